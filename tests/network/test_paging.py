"""Paging tokens in both forms: a Horizon TOID and an RPC event id order together, and turning
one into the other never skips an operation (at most it reads one again)."""

from anchor_dramatiq.paging import (
    as_event_cursor,
    as_horizon_cursor,
    end_of_ledger,
    event_id,
    ledger_of,
    next_unread_ledger,
    position,
    toid,
)

# Operation 2 (index 1) of transaction 3 in ledger 40: Horizon's id and RPC's event ids.
HORIZON_OP = str(toid(40, 3, 2))
EVENTS_OF_OP = [event_id(40, 3, 1, i) for i in (0, 1, 7)]


def test_the_ledger_of_either_form():
    assert ledger_of(HORIZON_OP) == ledger_of(EVENTS_OF_OP[0]) == 40
    assert ledger_of(end_of_ledger(40)) == 40 and ledger_of(str((41 << 32) - 1)) == 40


def test_a_horizon_token_covers_its_operations_events_and_no_later_one():
    assert all(position(e) <= position(HORIZON_OP) for e in EVENTS_OF_OP)
    assert position(HORIZON_OP) < position(event_id(40, 3, 2, 0))  # the next operation
    assert position(str(toid(40, 3, 1))) < position(EVENTS_OF_OP[0])  # the one before it


def test_switching_to_rpc_resumes_right_after_the_horizon_token():
    cursor = as_event_cursor(HORIZON_OP)
    assert all(e <= cursor for e in EVENTS_OF_OP)  # RPC returns ids after the cursor only
    assert cursor < event_id(40, 3, 2, 0)
    # a token at a ledger's start resumes at that ledger, which an RPC node can still hold
    assert as_event_cursor(str(toid(41))) == event_id(41) and ledger_of(event_id(41)) == 41
    assert ledger_of(as_event_cursor("0")) == 1  # from the beginning: the genesis ledger


def test_switching_to_horizon_reads_the_events_operation_again():
    for event in EVENTS_OF_OP:
        assert int(as_horizon_cursor(event)) < int(HORIZON_OP)  # Horizon returns ids after it
        assert int(as_horizon_cursor(event)) >= toid(40, 3, 1)  # the operation before: covered
    assert int(as_horizon_cursor(end_of_ledger(40))) >= toid(40, 0xFFFFF, 0xFFF)
    assert int(as_horizon_cursor(event_id(41))) < toid(41, 1, 1)  # all of ledger 41 is read


def test_a_cursor_at_the_end_of_its_ledger_reads_on_from_the_next():
    from anchor_dramatiq.network.rpc import _gap_after
    from anchor_dramatiq.streaming.cursor import after_ledger

    for at_end in (end_of_ledger(40), after_ledger(40)):
        assert next_unread_ledger(at_end) == 41
        assert _gap_after(at_end, 41, 90) is None  # ledger 40 was read whole: nothing dropped
        assert _gap_after(at_end, 42, 90) is not None
    assert next_unread_ledger(HORIZON_OP) == next_unread_ledger(EVENTS_OF_OP[0]) == 40
    assert _gap_after(HORIZON_OP, 41, 90) is not None
