"""``getEvents``: filters, limits, the search window and cursors, as stellar-rpc applies them.

A request starts at ``startLedger`` or just after ``pagination.cursor`` and scans at most
10,000 ledgers (``LedgerScanLimit``), never past the latest ledger nor ``endLedger``
(exclusive). It returns up to ``limit`` events (default 100, at most 10,000); the answer's
``cursor`` is the last event's id when the limit was reached, else the end of the scanned
window, so polling with it never skips nor repeats an event. A start outside the node's
retained range is -32600 ("startLedger must be within the ledger range: oldest - latest").
Filters: at most 5, each with at most 5 contract ids and 5 topic filters of 1-4 segments
(``*`` matches one segment; a trailing ``**`` matches any number of further segments).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from stellar_sdk import StrKey, xdr

from ..units import iso_time
from .events import Event, Raw, b64, ledger_events
from .protocol import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    Position,
    RpcError,
    check_format,
    cursor_text,
    end_of,
    invalid,
    obj,
    parse_cursor,
    uint,
)
from .window import Call, RpcState, ledger_transactions

LEDGER_SCAN_LIMIT = 10_000
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_FILTERS = 5
MAX_CONTRACT_IDS = 5
MAX_TOPICS = 5
MAX_SEGMENTS = 4
EVENT_TYPES = ("system", "contract")
ONE, ANY = "*", "**"


@dataclass(frozen=True)
class TopicFilter:
    """Segments (base64 ScVal, or None for ``*``); ``flexible`` when it ended with ``**``."""

    segments: tuple[str | None, ...]
    flexible: bool

    def matches(self, topics: tuple[str, ...]) -> bool:
        if len(topics) < len(self.segments) or (
                not self.flexible and len(topics) != len(self.segments)):
            return False
        return all(s is None or s == t for s, t in zip(self.segments, topics, strict=False))


@dataclass(frozen=True)
class Filter:
    types: frozenset[str]
    contract_ids: frozenset[str]
    topics: tuple[TopicFilter, ...]

    def matches(self, event: Event) -> bool:
        return ((not self.types or event.kind in self.types)
                and (not self.contract_ids or event.contract_id in self.contract_ids)
                and (not self.topics or any(t.matches(event.topics) for t in self.topics)))


def _segment(value: Any) -> str | None:
    """One topic segment from JSON: a wildcard, or a base64 ScVal (normalised)."""
    if not isinstance(value, str):
        raise invalid("invalid parameters: json: cannot unmarshal non-string into topic "
                      "segment of type string")
    if value in (ONE, ANY):
        return value
    try:
        return b64(xdr.SCVal.from_xdr(value))
    except Exception:  # base64, xdrlib3 and enum errors all mean "not an ScVal"
        raise invalid(f"invalid parameters: invalid topic segment {value}") from None


def _topic(raw: Any, number: int) -> TopicFilter:
    if not isinstance(raw, list):
        raise invalid("invalid parameters: json: cannot unmarshal topic into []SegmentFilter")
    segments = [_segment(v) for v in raw]
    if not segments:
        raise invalid(f"topic {number} invalid: topic must have at least 1 segment")
    flexible = segments[-1] == ANY
    fixed = segments[:-1] if flexible else segments
    for i, seg in enumerate(fixed, 1):
        if seg == ANY:
            raise invalid(f"topic {number} invalid: segment {i} invalid: wildcard '**' is "
                          "only allowed as the last segment")
    if len(fixed) > MAX_SEGMENTS:
        raise invalid(f"topic {number} invalid: topic cannot have more than {MAX_SEGMENTS} "
                      "segments")
    return TopicFilter(tuple(None if s == ONE else s for s in fixed), flexible)


def _filter(raw: Any, number: int) -> Filter:
    if not isinstance(raw, dict):
        raise invalid("invalid parameters: json: cannot unmarshal filter into EventFilter")
    kinds = raw.get("type") or ""
    if not isinstance(kinds, str):
        raise invalid("invalid parameters: json: cannot unmarshal type into string")
    types = frozenset(k for k in kinds.split(",") if kinds)
    contract_ids = raw.get("contractIds") or []
    topics = raw.get("topics") or []
    if not isinstance(contract_ids, list) or not isinstance(topics, list):
        raise invalid("invalid parameters: json: cannot unmarshal contractIds/topics into "
                      "array")

    def bad(reason: str) -> RpcError:
        return invalid(f"filter {number} invalid: {reason}")

    if any(t not in EVENT_TYPES for t in types):
        raise bad("filter type invalid: if set, type must be either 'system' or 'contract'")
    if len(contract_ids) > MAX_CONTRACT_IDS:
        raise bad(f"maximum {MAX_CONTRACT_IDS} contract IDs per filter")
    if len(topics) > MAX_TOPICS:
        raise bad(f"maximum {MAX_TOPICS} topics per filter")
    for i, cid in enumerate(contract_ids, 1):
        if not isinstance(cid, str) or not StrKey.is_valid_contract(cid):
            raise bad(f"contract ID {i} invalid")
    parsed = []
    for i, topic in enumerate(topics, 1):
        try:
            parsed.append(_topic(topic, i))
        except RpcError as exc:
            raise (bad(exc.message) if exc.message.startswith("topic ") else exc) from None
    return Filter(types, frozenset(contract_ids), tuple(parsed))


@dataclass(frozen=True)
class Query:
    after: Position | None  # the cursor, exclusive
    start_ledger: int
    end_ledger: int  # 0: none given
    limit: int
    filters: tuple[Filter, ...]

    def matches(self, event: Event) -> bool:
        return not self.filters or any(f.matches(event) for f in self.filters)


def parse(params: dict[str, Any]) -> Query:
    """The request, checked in the order of stellar-rpc's ``GetEventsRequest.Valid``."""
    start, end = uint(params, "startLedger"), uint(params, "endLedger")
    pagination = obj(params, "pagination")
    cursor_raw = pagination.get("cursor")
    if cursor_raw is not None and not isinstance(cursor_raw, str):
        raise invalid("invalid parameters: json: cannot unmarshal number into Go value of "
                      "type string")
    after = parse_cursor(cursor_raw) if cursor_raw else None
    limit = uint(pagination, "limit")
    raw_filters = params.get("filters") or []
    if not isinstance(raw_filters, list):
        raise invalid("invalid parameters: json: cannot unmarshal filters into array")
    filters = tuple(_filter(f, i) for i, f in enumerate(raw_filters, 1))
    check_format(params)
    if after is not None:
        if start or end:
            raise invalid("ledger ranges and cursor cannot both be set")
    elif start <= 0:
        raise invalid("startLedger must be positive")
    if limit > MAX_LIMIT:
        raise invalid(f"limit must not exceed {MAX_LIMIT}")
    if len(filters) > MAX_FILTERS:
        raise invalid(f"maximum {MAX_FILTERS} filters per request")
    return Query(after, after[0] if after else start, end, limit or DEFAULT_LIMIT, filters)


def events_of(state: RpcState, ledger: int, oldest: int) -> list[Event]:
    """A closed ledger's events (classic and injected), built once and cached."""
    cached = state.ledger_events.get(ledger)
    if cached is not None:
        return cached
    records = ledger_transactions(state.net, ledger)
    events = ledger_events(state.encoder, ledger, records)
    for k, raw in enumerate(state.injected.pop(ledger, []), len(records) + 1):
        fake_hash = hashlib.sha256(f"simnet injected event {ledger} {k}".encode()).hexdigest()
        events.append(Event((ledger, k, 0, 0), raw.contract_id, raw.topics, raw.value,
                            fake_hash))
    cache = state.ledger_events
    cache[ledger] = events
    if len(cache) > state.retention + 64:
        for old in [seq for seq in cache if seq < oldest]:
            del cache[old]
    return events


def render(event: Event, closed_at: int) -> dict[str, Any]:
    ledger, tx, op, _ = event.position
    return {
        "type": event.kind,
        "ledger": ledger,
        "ledgerClosedAt": iso_time(closed_at),
        "contractId": event.contract_id,
        "id": cursor_text(event.position),
        "operationIndex": op,
        "transactionIndex": tx,
        "txHash": event.tx_hash,
        "topic": list(event.topics),
        "value": event.value,
    }


def get_events(call: Call) -> dict[str, Any]:
    state, view, query = call.state, call.view, parse(call.params)
    latest, oldest = view.latest.sequence, view.oldest.sequence
    end = min(query.start_ledger + LEDGER_SCAN_LIMIT, latest + 1)
    if query.end_ledger:
        end = min(query.end_ledger, end)
    if not view.holds(query.start_ledger):
        raise RpcError(INVALID_REQUEST,
                       f"startLedger must be within the ledger range: {oldest} - {latest}")
    found: list[dict[str, Any]] = []
    history = state.net.history
    for ledger in range(query.start_ledger, end):
        closed_at = history.ledger(ledger).closed_at
        for event in events_of(state, ledger, oldest):
            if query.after is not None and event.position <= query.after:
                continue
            if query.matches(event):
                found.append(render(event, closed_at))
                if len(found) == query.limit:
                    break
        if len(found) == query.limit:
            break
    cursor = found[-1]["id"] if len(found) == query.limit else cursor_text(end_of(end - 1))
    return {
        "events": found,
        "cursor": cursor,
        "latestLedger": latest,
        "oldestLedger": oldest,
        "latestLedgerCloseTime": str(view.latest.closed_at),
        "oldestLedgerCloseTime": str(view.oldest.closed_at),
    }


def inject(state: RpcState, contract_id: str, topics: list[str], value: str) -> int:
    """Queue an event from any contract into the next ledger to close; returns that ledger.
    It stands for a contract call simnet does not run (a look-alike token, say)."""
    if not StrKey.is_valid_contract(contract_id):
        raise RpcError(INVALID_PARAMS, "contract_id must be a C strkey")
    normalised = tuple(_segment(t) or "" for t in topics)
    if any(t in (ONE, ANY) for t in normalised):
        raise RpcError(INVALID_PARAMS, "topics must be base64 ScVal XDR")
    ledger = state.net.latest_ledger + 1
    state.injected.setdefault(ledger, []).append(
        Raw(contract_id, normalised, _segment(value) or ""))
    return ledger

