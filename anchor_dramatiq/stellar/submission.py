"""The exactly-once submission protocol: build, store, submit, settle by hash.

A Stellar transaction is written to ``anchor_submission`` (envelope, hash, sequence, max
time) before it is ever submitted. After that its fate is only ever settled by looking its
hash up on the network (:mod:`anchor_dramatiq.network`: Horizon or Stellar RPC), never
guessed from an error: a 504, a dropped connection, a JSON-RPC error or a worker killed
mid-submit leaves the row ``submitted`` and the next look settles it.

A *family* is one inner transaction and the fee-bumps wrapped around it: they share the
inner hash and the sequence number, so at most one of them can ever apply. Both backends
find a fee-bump by its inner hash.

States: ``built`` (stored, maybe never sent) -> ``submitted`` -> ``succeeded`` | ``failed``
(applied and failed in a ledger) | ``expired`` (can never apply, on positive evidence only:
a node that has ingested past its ledger bound, or past the ledger where its sequence
number was used, and still keeps every ledger since it was built, does not know its hash;
or that node's latest ledger closed after its max time). Anything else -- a not-found from
a node behind or one whose retention no longer covers it, a 5xx, a 429, a timeout,
``TRY_AGAIN_LATER``, ``tx_too_late`` or ``tx_bad_seq`` answered to a submission -- leaves its
fate unknown: it stays live and is looked at again later.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stellar_sdk import (
    FeeBumpTransactionEnvelope,
    Keypair,
    TransactionBuilder,
    TransactionEnvelope,
    xdr,
)

from anchor_dramatiq.config import Settings
from anchor_dramatiq.db import database, utcnow
from anchor_dramatiq.errors import NoAnswer
from anchor_dramatiq.models import Submission, SubmissionItem
from anchor_dramatiq.network.answers import (
    AccountState,
    Admission,
    Applied,
    LedgerHead,
    NoReply,
    NotFound,
    SubmitAnswer,
)
from anchor_dramatiq.network.interface import AssetKey, Network
from anchor_dramatiq.vocabulary import LIVE_SUBMISSION_STATES as LIVE
from anchor_dramatiq.vocabulary import SubmissionState

log = logging.getLogger(__name__)

FEE_STATS_TTL_S = 5.0
LEDGER_PACE_TTL_S = 2.0
MIN_BASE_FEE = 100
# Ledger bounds: an envelope valid for T seconds may apply in as many ledgers as close in T
# seconds at the pace of the last few ledgers (+2), so its ledger bound and its max time end
# together on any network (about 12 ledgers for 60 s on pubnet).
MIN_CLOSE_S = 0.1
LEDGER_SLACK = 2

# Codes meaning core refused the envelope at admission: nothing applied, no fee charged.
# Answers to a submission that prove nothing about the envelope: an earlier POST of the same
# envelope (or the client's own retry) may have applied it.
UNKNOWN_REFUSALS = frozenset({"tx_bad_seq", "tx_too_late"})
# A node's retention must reach this far before an envelope was built for its not-found to
# count: the database's clock and the ledgers' close times may disagree by this much.
CLOCK_MARGIN_S = 10
REFUSED_NOT_APPLIED = frozenset({
    "tx_bad_seq", "tx_insufficient_fee", "tx_too_late", "tx_too_early", "tx_bad_auth",
    "tx_insufficient_balance", "tx_no_source_account", "tx_bad_auth_extra", "tx_malformed",
    "tx_not_supported", "tx_bad_sponsorship", "tx_bad_min_seq_age_or_gap", "tx_missing_operation",
})


@dataclass
class Outcome:
    """What one submit or settle learnt about a family.

    ``state`` is the family's state now: ``succeeded``, ``failed``, ``expired`` or
    ``pending`` (its fate is not known yet; look again later). ``submission`` is the member
    the outcome is about (the one that applied, when one did). A pending outcome with a
    ``tx_code`` carries core's refusal of the last POST (the envelope stays live).
    """

    state: SubmissionState
    submission: Submission
    record: dict[str, Any] | None = None
    tx_code: str | None = None
    op_codes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- fees


_fee_cache: dict[str, tuple[float, int]] = {}
_fee_lock = threading.Lock()


def network_fee(network: Network, settings: Settings, *, fresh: bool = False) -> int:
    """Per-operation bid: what recent ledgers charged (p90) or their base fee, capped.

    Cached for a few seconds per endpoint so a batch of builds costs one fee-stats call.
    Raises :class:`NoAnswer` when the node gave none.
    """
    with _fee_lock:
        cached = _fee_cache.get(network.endpoint)
        if cached and not fresh and time.monotonic() - cached[0] < FEE_STATS_TTL_S:
            return cached[1]
    bid = network.fee_bid(settings.max_fee_stroops)
    if isinstance(bid, NoReply):
        raise NoAnswer(bid.summary)
    with _fee_lock:
        _fee_cache[network.endpoint] = (time.monotonic(), bid.base_fee)
    return bid.base_fee


# --------------------------------------------------------------------------- building


_pace_cache: dict[str, tuple[float, int, float]] = {}
_pace_lock = threading.Lock()


def ledger_pace(network: Network, *, fresh: bool = False) -> tuple[int, float]:
    """The latest ledger and the seconds between closes over the last few ledgers.

    Cached for a moment per endpoint (a pipeline builds many envelopes per ledger). A cached
    latest ledger is at most ``LEDGER_PACE_TTL_S`` old, so a bound computed from it is a few
    ledgers *shorter* than it could be, never longer: the envelope only dies sooner.
    """
    key = network.endpoint
    with _pace_lock:
        cached = _pace_cache.get(key)
        if cached and not fresh and time.monotonic() - cached[0] < LEDGER_PACE_TTL_S:
            return cached[1], cached[2]
    pace = network.pace()
    if isinstance(pace, NoReply):
        raise NoAnswer(pace.summary)
    close_s = max(MIN_CLOSE_S, pace.close_s)
    with _pace_lock:
        _pace_cache[key] = (time.monotonic(), pace.latest_ledger, close_s)
    return pace.latest_ledger, close_s


def max_ledger_for(network: Network, validity_s: int) -> int:
    """The ledger bound of an envelope built now and valid for ``validity_s`` seconds."""
    latest, close_s = ledger_pace(network)
    return latest + math.ceil(validity_s / close_s) + LEDGER_SLACK


def account_state(network: Network, account_id: str, assets: Sequence[AssetKey] = ()
                  ) -> AccountState:
    """An account as the network has it now (a source's sequence, a distribution account's
    signers and balance); raises :class:`NoAnswer` when the network could not say."""
    answer = network.accounts([account_id], assets)[account_id]
    if not isinstance(answer, AccountState):
        what = (answer.summary if isinstance(answer, NoReply)
                else f"not found at ledger {answer.latest_ledger}")
        raise NoAnswer(f"account {account_id}: {what}")
    return answer


def inner_of(envelope: TransactionEnvelope | FeeBumpTransactionEnvelope) -> TransactionEnvelope:
    if isinstance(envelope, FeeBumpTransactionEnvelope):
        return envelope.transaction.inner_transaction_envelope
    return envelope


def parse_envelope(envelope_xdr: str, passphrase: str
                   ) -> TransactionEnvelope | FeeBumpTransactionEnvelope:
    return TransactionBuilder.from_xdr(envelope_xdr, passphrase)


def new_submission(envelope: TransactionEnvelope | FeeBumpTransactionEnvelope, *, purpose: str,
                   channel: str | None, items: Iterable[tuple[Any, int, str]]) -> Submission:
    """Insert the row (and which transactions its operations pay) before any submit.

    Call inside the caller's ``database.atomic()`` block, together with its claim checks.
    """
    inner = inner_of(envelope)
    tx = inner.transaction
    bounds = tx.preconditions.time_bounds if tx.preconditions else None
    ledgers = tx.preconditions.ledger_bounds if tx.preconditions else None
    envelope_hash = envelope.hash_hex()
    submission = Submission.create(
        hash=envelope_hash, inner_hash=envelope_hash if inner is envelope else inner.hash_hex(),
        source_account=tx.source.account_id, sequence=tx.sequence,
        envelope_xdr=envelope.to_xdr(), max_time=bounds.max_time if bounds else 0,
        max_ledger=(ledgers.max_ledger or None) if ledgers else None,
        fee=envelope.transaction.fee if isinstance(envelope, FeeBumpTransactionEnvelope) else tx.fee,
        purpose=purpose, state=SubmissionState.BUILT, channel=channel)
    rows = [{"submission": submission, "transaction_id": transaction_id, "op_index": op_index,
             "op_kind": op_kind} for transaction_id, op_index, op_kind in items]
    if rows:
        SubmissionItem.insert_many(rows).execute()  # one statement for up to 100 operations
    return submission


def fee_bump(submission: Submission, fee_source: Keypair, base_fee: int, passphrase: str
             ) -> FeeBumpTransactionEnvelope:
    """A fee-bump around the same inner transaction (same inner hash, same sequence)."""
    inner = inner_of(parse_envelope(submission.envelope_xdr, passphrase))
    bump = TransactionBuilder.build_fee_bump_transaction(
        fee_source=fee_source.public_key, base_fee=base_fee,
        inner_transaction_envelope=inner, network_passphrase=passphrase)
    bump.sign(fee_source)
    return bump


def store_fee_bump(submission: Submission, bump: FeeBumpTransactionEnvelope) -> Submission:
    """Store the bump as a new member of the family, paying the same items."""
    with database.atomic():
        items = [(i.transaction_id, i.op_index, i.op_kind) for i in submission.items]
        return new_submission(bump, purpose=submission.purpose, channel=submission.channel,
                              items=items)


# --------------------------------------------------------------------------- submitting


def _mark(submission: Submission, state: str, from_states: Sequence[str] = LIVE, **fields: Any
          ) -> bool:
    """Compare-and-set the row's state; False when another worker settled it first."""
    fields.setdefault("settled_at", utcnow() if state not in LIVE else None)
    changed = (Submission.update(state=state, **fields)
               .where((Submission.id == submission.id) & (Submission.state.in_(list(from_states))))
               .execute())
    if changed:
        submission.state = state
        for key, value in fields.items():
            setattr(submission, key, value)
    return bool(changed)


def _record_success(submission: Submission, record: dict[str, Any]) -> Outcome:
    """Horizon's record of an applied transaction: succeeded or failed in its ledger."""
    applied = submission
    if record.get("hash") and record["hash"] != submission.hash:
        applied = Submission.get_or_none(Submission.hash == record["hash"]) or submission
    state = SubmissionState.SUCCEEDED if record.get("successful", True) else SubmissionState.FAILED
    codes = None
    if state == SubmissionState.FAILED:
        codes = json.dumps(failure_codes(record.get("result_xdr")))
    _mark(applied, state, ledger=record.get("ledger"), paging_token=record.get("paging_token"),
          result_xdr=record.get("result_xdr"), result_codes=codes)
    _expire_siblings(applied)
    tx_code, op_codes = (None, [])
    if state == SubmissionState.FAILED:
        parsed = json.loads(codes or "{}")
        tx_code, op_codes = parsed.get("transaction"), parsed.get("operations", [])
    return Outcome(state, Submission.get_by_id(applied.id), record, tx_code, op_codes)


def _expire_siblings(applied: Submission) -> None:
    """The other members of an applied family can never apply: their sequence is used."""
    (Submission.update(state=SubmissionState.EXPIRED, settled_at=utcnow(),
                       error="another member of the family applied")
     .where((Submission.inner_hash == applied.inner_hash) & (Submission.id != applied.id)
            & (Submission.state.in_(LIVE)))
     .execute())


def _sent(submission: Submission) -> Submission:
    """Count a POST of a live row; returns the row as it is now."""
    Submission.update(state=SubmissionState.SUBMITTED, submitted_at=utcnow(),
                      attempts=Submission.attempts + 1) \
        .where((Submission.id == submission.id) & (Submission.state.in_(LIVE))).execute()
    return Submission.get_by_id(submission.id)


def submit(network: Network, submission: Submission) -> Outcome:
    """Send the stored envelope once and wait a while for the ledger; record what was said.

    Applied -> ``succeeded`` or ``failed``. Refused with applied-and-failed codes ->
    ``failed``. Everything else leaves the row live: no answer, or an admission without a
    ledger yet -> ``pending`` (settle it by hash later); ``tx_too_late``/``tx_bad_seq`` ->
    settled at once by hash, on evidence only; other refusals -> ``pending`` with the code
    for the caller.
    """
    submission = _sent(submission)
    if submission.state not in LIVE:
        return settled_outcome(submission)
    answer = network.submit_and_wait(submission.envelope_xdr)
    if isinstance(answer, Applied):
        return _record_success(submission, _record(answer))
    return _admission(network, submission, answer)


def submit_async(network: Network, submission: Submission) -> Outcome:
    """Hand the stored envelope to core once: its admission, no wait for a ledger.

    The worker is free as soon as core answered; the family is settled by hash later.
    Accepted/duplicate (queued, or already known) and try-again-later (core's queue is full
    for now: not admitted, looked at again later, never in a tight loop) -> ``pending``. A
    refusal carries core's result codes, handled as a refusal of a waited-for send. No
    answer (5xx, 429, a dropped connection, a JSON-RPC error) -> ``pending``: it may have
    been admitted.
    """
    submission = _sent(submission)
    if submission.state not in LIVE:
        return settled_outcome(submission)
    return _admission(network, submission, network.submit(submission.envelope_xdr))


def _admission(network: Network, submission: Submission, answer: SubmitAnswer | NoReply) -> Outcome:
    if isinstance(answer, NoReply):
        _note(submission, answer.summary)
        log.warning("submission %s: %s; its fate will be settled by hash", submission.hash,
                    answer.summary)
        return Outcome(SubmissionState.PENDING, submission)
    if answer.admission == Admission.REFUSED:
        return _refusal(network, submission, answer.tx_code, list(answer.op_codes), answer.result_xdr)
    if answer.admission == Admission.TRY_AGAIN_LATER:
        _note(submission, "submit: TRY_AGAIN_LATER (not admitted now)")
    return Outcome(SubmissionState.PENDING, submission)


def _refusal(network: Network, submission: Submission, tx_code: str | None, op_codes: list[str],
             result_xdr: str | None) -> Outcome:
    if tx_code is None:
        # A refusal without core's code: nothing to go on, the fate stays unknown.
        _note(submission, "submit refused without a result code")
        return Outcome(SubmissionState.PENDING, submission)
    if tx_code not in REFUSED_NOT_APPLIED:
        # Applied in a ledger and failed: sequence used, fee charged, no operation applied.
        codes = json.dumps({"transaction": tx_code, "operations": op_codes})
        _mark(submission, SubmissionState.FAILED, result_codes=codes, result_xdr=result_xdr)
        _expire_siblings(submission)
        return Outcome(SubmissionState.FAILED, submission, tx_code=tx_code, op_codes=op_codes)
    _note(submission, f"submit refused: {tx_code}")
    if tx_code in UNKNOWN_REFUSALS:
        return settle(network, submission, resubmit=False)
    # Core refused this POST; an earlier one may still be queued, so the row stays live.
    return Outcome(SubmissionState.PENDING, submission, tx_code=tx_code)


def _note(submission: Submission, error: str) -> None:
    Submission.update(error=error[:500]).where(Submission.id == submission.id).execute()


def _record(applied: Applied) -> dict[str, Any]:
    """An applied transaction as the record :func:`_record_success` and the flows read."""
    return {"hash": applied.hash, "ledger": applied.ledger, "successful": applied.successful,
            "result_xdr": applied.result_xdr, "paging_token": applied.paging_token}


# --------------------------------------------------------------------------- settling


def settled_outcome(submission: Submission) -> Outcome:
    """The outcome of a member already settled in the database."""
    codes = json.loads(submission.result_codes) if submission.result_codes else {}
    record = None
    if submission.state == SubmissionState.SUCCEEDED:
        record = {"hash": submission.hash, "ledger": submission.ledger,
                  "paging_token": submission.paging_token, "result_xdr": submission.result_xdr,
                  "successful": True}
    return Outcome(submission.state, submission, record, codes.get("transaction"),
                   codes.get("operations", []))


def family(submission: Submission) -> list[Submission]:
    return list(Submission.select().where(Submission.inner_hash == submission.inner_hash)
                .order_by(Submission.id))


def settle(network: Network, submission: Submission, *, resubmit: bool = True,
           asynchronous: bool = False) -> Outcome:
    """Settle a family by hash; resubmit its newest member while it may still apply.

    Found -> its result. Not found by a node whose answer proves the envelope can no longer
    apply -> expired (see :func:`_why_dead`). Any other answer -> unknown: the same
    envelope is sent again when the node said it does not know it (not found; without
    waiting when ``asynchronous``), and the family stays live.
    """
    members = family(submission)
    done = [m for m in members if m.state in (SubmissionState.SUCCEEDED, SubmissionState.FAILED)]
    if done:
        return settled_outcome(done[0])
    live = [m for m in members if m.state in LIVE]
    if not live:
        return settled_outcome(members[-1])
    newest = live[-1]
    fate = network.fate(newest.inner_hash)
    if isinstance(fate, Applied):
        return _record_success(newest, _record(fate))
    if isinstance(fate, NoReply) and not fate.said_not_found:
        log.warning("settling %s: %s; will look again", newest.hash, fate.summary)
        return Outcome(SubmissionState.PENDING, newest)
    reason = _why_dead(network, newest, fate) if isinstance(fate, NotFound) else None
    if reason:
        for member in live:
            _mark(member, SubmissionState.EXPIRED, error=reason)
        log.info("submission %s expired: %s", newest.hash, reason)
        return Outcome(SubmissionState.EXPIRED, Submission.get_by_id(newest.id))
    if not resubmit:
        return Outcome(SubmissionState.PENDING, newest)
    return submit_async(network, newest) if asynchronous else submit(network, newest)


def _why_dead(network: Network, submission: Submission, lookup: NotFound) -> str | None:
    """Why the envelope can never apply, proven by the node that did not know its hash.

    That node has ingested every ledger up to ``seen`` and still keeps every ledger closed
    since the envelope was built (Horizon keeps all; Stellar RPC only its retention window),
    so the envelope did not apply up to there. It is dead when no later ledger can take it:
    ``seen`` reached its ledger bound; or its source account's sequence is at or past the
    envelope's and was set in a ledger at or before ``seen`` (another transaction used the
    number); or that node's latest ledger, at or before ``seen``, closed after its max time.
    A node behind any of these, or one that no longer keeps those ledgers, proves nothing.
    """
    seen = lookup.latest_ledger
    built_at = int(submission.created_at.timestamp())
    if not lookup.keeps_ledgers_after(built_at - CLOCK_MARGIN_S):
        _note(submission, f"not found by a node keeping ledgers from {lookup.oldest_ledger} only "
                          "(after this envelope was built): that proves nothing")
        return None
    # The node keeps every ledger from its oldest on, and that one closed before this envelope
    # existed: the ledger it could first apply in is among them.
    first_kept = lookup.oldest_ledger or 1
    if submission.max_ledger and lookup.proves_unapplied(first_kept, submission.max_ledger):
        return (f"ledger bound {submission.max_ledger} reached: a node at ledger {seen} "
                "does not know it")
    account = network.accounts([submission.source_account])[submission.source_account]
    if isinstance(account, AccountState):
        used_in = account.sequence_ledger or account.last_modified_ledger
        if account.sequence >= submission.sequence and used_in and used_in <= seen:
            return (f"sequence {submission.sequence} used by another transaction (by ledger "
                    f"{used_in}; a node at ledger {seen} does not know this one)")
    if submission.max_time:
        head = network.latest_ledger()
        if isinstance(head, LedgerHead) and head.sequence <= seen and head.closed_at > submission.max_time:
            return (f"max time {submission.max_time} passed (ledger {head.sequence} closed "
                    f"{head.closed_at}; a node at ledger {seen} does not know it)")
    return None


# --------------------------------------------------------------------------- results


def failure_codes(result_xdr: str | None) -> dict[str, Any]:
    """Result codes (Horizon's strings) from a TransactionResult XDR."""
    if not result_xdr:
        return {}
    result = xdr.TransactionResult.from_xdr(result_xdr)
    inner = _inner_result(result)
    code = inner.code if inner is not None else result.result.code
    out: dict[str, Any] = {"transaction": _tx_code_name(code)}
    ops = inner.results if inner is not None else result.result.results
    if ops:
        out["operations"] = [_op_code_name(op) for op in ops]
    return out


def _inner_result(result: xdr.TransactionResult) -> Any:
    pair = result.result.inner_result_pair
    return pair.result.result if pair is not None else None


def _tx_code_name(code: xdr.TransactionResultCode) -> str:
    name = code.name  # e.g. txFAILED, txBAD_SEQ
    return "tx_" + name[2:].lower()


# Result arm of each operation kind the anchor sends, and its XDR code-name prefix.
_OP_ARMS = (("payment_result", "PAYMENT_"), ("create_account_result", "CREATE_ACCOUNT_"),
            ("create_claimable_balance_result", "CREATE_CLAIMABLE_BALANCE_"),
            ("path_payment_strict_receive_result", "PATH_PAYMENT_STRICT_RECEIVE_"),
            ("path_payment_strict_send_result", "PATH_PAYMENT_STRICT_SEND_"))


# Where Horizon's string is not the XDR name (stellar/go txsub/errors.go).
_HORIZON_OP_NAMES = {"op_already_exist": "op_already_exists"}


def _op_code_name(op: xdr.OperationResult) -> str:
    """``op_no_trust`` from ``PAYMENT_NO_TRUST``; ``op_success`` for any success."""
    if op.code != xdr.OperationResultCode.opINNER:
        return "op_" + op.code.name[2:].lower()
    for arm, prefix in _OP_ARMS:
        value = getattr(op.tr, arm, None)
        if value is not None:
            name = "op_" + value.code.name.removeprefix(prefix).lower()
            return _HORIZON_OP_NAMES.get(name, name)
    return "op_unknown"


def claimable_balance_ids(result_xdr: str | None) -> dict[int, str]:
    """Operation index -> claimable balance id (hex, as Horizon and Polaris show it)."""
    if not result_xdr:
        return {}
    result = xdr.TransactionResult.from_xdr(result_xdr)
    inner = _inner_result(result)
    ops = (inner.results if inner is not None else result.result.results) or []
    ids: dict[int, str] = {}
    for index, op in enumerate(ops):
        created = getattr(op.tr, "create_claimable_balance_result", None) if op.tr else None
        if created is not None and created.balance_id is not None:
            ids[index] = created.balance_id.to_xdr_bytes().hex()
    return ids


def memo_bytes(value: str) -> bytes:
    """A hash memo as Polaris stores it (base64) -> its 32 bytes."""
    return base64.b64decode(value)
