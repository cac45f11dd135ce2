"""The exactly-once submission protocol: build, store, submit, settle by hash.

A Stellar transaction is written to ``anchor_submission`` (envelope, hash, sequence, max
time) before it is ever submitted. After that its fate is only ever settled by looking its
hash up on Horizon, never guessed from an error: a 504, a dropped connection or a worker
killed mid-submit leaves the row ``submitted`` and the next look settles it.

A *family* is one inner transaction and the fee-bumps wrapped around it: they share the
inner hash and the sequence number, so at most one of them can ever apply.

States: ``built`` (stored, maybe never sent) -> ``submitted`` -> ``succeeded`` | ``failed``
(applied and failed in a ledger) | ``expired`` (can never apply, on positive evidence only:
a Horizon node that has ingested past its ledger bound, or past the ledger where its sequence
number was used, does not know its hash; or that node's ledger closed after its max time).
Anything else -- a 404 without ``Latest-Ledger``, a 5xx, a 429, a timeout, ``tx_too_late`` or
``tx_bad_seq`` answered to a submission -- leaves its fate unknown: it stays live and is
looked at again later.
"""

from __future__ import annotations

import base64
import datetime as dt
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
    Server,
    TransactionBuilder,
    TransactionEnvelope,
    xdr,
)
from stellar_sdk.exceptions import BadRequestError, BaseRequestError, ConnectionError

from anchor_dramatiq.config import Settings
from anchor_dramatiq.db import database, utcnow
from anchor_dramatiq.models import Submission, SubmissionItem
from anchor_dramatiq.stellar.answers import Answer, read
from anchor_dramatiq.vocabulary import LIVE_SUBMISSION_STATES as LIVE
from anchor_dramatiq.vocabulary import SubmissionState

log = logging.getLogger(__name__)

FEE_STATS_TTL_S = 5.0
LEDGER_PACE_TTL_S = 2.0
MIN_BASE_FEE = 100
# Ledger bounds: an envelope valid for T seconds may apply in as many ledgers as close in T
# seconds at the pace of the last few ledgers (+2), so its ledger bound and its max time end
# together on any network (about 12 ledgers for 60 s on pubnet).
CLOSE_TIME_SAMPLE = 10
MIN_CLOSE_S = 0.1
LEDGER_SLACK = 2

# Codes meaning core refused the envelope at admission: nothing applied, no fee charged.
# Answers to a submission that prove nothing about the envelope: an earlier POST of the same
# envelope (or the client's own retry) may have applied it.
UNKNOWN_REFUSALS = frozenset({"tx_bad_seq", "tx_too_late"})
# Core's answers to POST /transactions_async (Horizon relays them as ``tx_status``).
ASYNC_PENDING, ASYNC_DUPLICATE, ASYNC_ERROR = "PENDING", "DUPLICATE", "ERROR"
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


def network_fee(server: Server, settings: Settings, *, fresh: bool = False) -> int:
    """Per-operation bid: what recent ledgers charged (p90) or their base fee, capped.

    Cached for a few seconds per Horizon so a batch of builds costs one ``/fee_stats`` call.
    """
    with _fee_lock:
        cached = _fee_cache.get(settings.horizon_url)
        if cached and not fresh and time.monotonic() - cached[0] < FEE_STATS_TTL_S:
            return cached[1]
    stats = server.fee_stats().call()
    wanted = max(MIN_BASE_FEE, int(stats["last_ledger_base_fee"]),
                 int(stats["fee_charged"]["p90"]))
    fee = min(wanted, settings.max_fee_stroops)
    with _fee_lock:
        _fee_cache[settings.horizon_url] = (time.monotonic(), fee)
    return fee


# --------------------------------------------------------------------------- building


_pace_cache: dict[str, tuple[float, int, float]] = {}
_pace_lock = threading.Lock()


def ledger_pace(server: Server, *, fresh: bool = False) -> tuple[int, float]:
    """The latest ledger and the seconds between closes over the last few ledgers.

    Cached for a moment per Horizon (a pipeline builds many envelopes per ledger). A cached
    latest ledger is at most ``LEDGER_PACE_TTL_S`` old, so a bound computed from it is a few
    ledgers *shorter* than it could be, never longer: the envelope only dies sooner.
    """
    key = server.horizon_url
    with _pace_lock:
        cached = _pace_cache.get(key)
        if cached and not fresh and time.monotonic() - cached[0] < LEDGER_PACE_TTL_S:
            return cached[1], cached[2]
    records = (server.ledgers().order(desc=True).limit(CLOSE_TIME_SAMPLE).call()
               ["_embedded"]["records"])
    span = _epoch(records[0]["closed_at"]) - _epoch(records[-1]["closed_at"])
    close_s = max(MIN_CLOSE_S, span / max(1, len(records) - 1))
    latest = int(records[0]["sequence"])
    with _pace_lock:
        _pace_cache[key] = (time.monotonic(), latest, close_s)
    return latest, close_s


def max_ledger_for(server: Server, validity_s: int) -> int:
    """The ledger bound of an envelope built now and valid for ``validity_s`` seconds."""
    latest, close_s = ledger_pace(server)
    return latest + math.ceil(validity_s / close_s) + LEDGER_SLACK


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


def _result_codes(extras: dict[str, Any] | None) -> tuple[str | None, list[str]]:
    codes = (extras or {}).get("result_codes") or {}
    tx_code = codes.get("transaction")
    if tx_code in ("tx_fee_bump_inner_failed", "tx_fee_bump_inner_success"):
        tx_code = codes.get("inner_transaction", tx_code)
    return tx_code, list(codes.get("operations") or [])


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


def submit(server: Server, submission: Submission) -> Outcome:
    """POST the stored envelope once and record what Horizon said.

    Success -> ``succeeded``. Applied-and-failed result codes -> ``failed``. Everything else
    leaves the row live: a 404, 5xx, dropped connection or a 4xx without result codes ->
    ``pending`` (settle it by hash later); ``tx_too_late``/``tx_bad_seq`` -> settled at once
    by hash, on evidence only; other refusals -> ``pending`` with the code for the caller.
    """
    Submission.update(state=SubmissionState.SUBMITTED, submitted_at=utcnow(),
                      attempts=Submission.attempts + 1) \
        .where((Submission.id == submission.id) & (Submission.state.in_(LIVE))).execute()
    submission = Submission.get_by_id(submission.id)
    if submission.state not in LIVE:
        return settled_outcome(submission)
    try:
        record = server.submit_transaction(submission.envelope_xdr, skip_memo_required_check=True)
    except BadRequestError as exc:
        return _refused(server, submission, exc)
    except (BaseRequestError, ConnectionError) as exc:
        _note(submission, f"submit: {_describe(exc)}")
        log.warning("submission %s: %s; its fate will be settled by hash", submission.hash,
                    _describe(exc))
        return Outcome(SubmissionState.PENDING, submission)
    return _record_success(submission, record)


def submit_async(server: Server, submission: Submission) -> Outcome:
    """POST the stored envelope to ``/transactions_async`` once: core's admission, no wait.

    The worker is free as soon as core answered; the family is settled by hash later.
    ``PENDING``/``DUPLICATE`` (queued, or already known) and ``TRY_AGAIN_LATER`` (core's
    queue is full for now) -> ``pending``. ``ERROR`` carries core's refusal, handled as a
    refusal of a synchronous POST. Anything else (5xx, 429, a dropped connection) ->
    ``pending``: it may have been admitted.
    """
    Submission.update(state=SubmissionState.SUBMITTED, submitted_at=utcnow(),
                      attempts=Submission.attempts + 1) \
        .where((Submission.id == submission.id) & (Submission.state.in_(LIVE))).execute()
    submission = Submission.get_by_id(submission.id)
    if submission.state not in LIVE:
        return settled_outcome(submission)
    url = server.horizon_url.rstrip("/") + "/transactions_async"
    try:
        response = server._client.post(url, data={"tx": submission.envelope_xdr})
        body = response.json() if response.text else {}
    except (BaseRequestError, ConnectionError, ValueError) as exc:
        _note(submission, f"submit_async: {_describe(exc)}")
        return Outcome(SubmissionState.PENDING, submission)
    status = body.get("tx_status") if isinstance(body, dict) else None
    if status == ASYNC_ERROR and body.get("error_result_xdr"):
        parsed = failure_codes(body["error_result_xdr"])
        return _refusal(server, submission, parsed.get("transaction"), parsed.get("operations", []),
                        body["error_result_xdr"], f"async {response.status_code}")
    if status not in (ASYNC_PENDING, ASYNC_DUPLICATE):
        _note(submission, f"submit_async: {response.status_code} {status or ''}".strip())
    return Outcome(SubmissionState.PENDING, submission)


def _refused(server: Server, submission: Submission, exc: BadRequestError) -> Outcome:
    tx_code, op_codes = _result_codes(exc.extras)
    return _refusal(server, submission, tx_code, op_codes, (exc.extras or {}).get("result_xdr"),
                    _describe(exc))


def _refusal(server: Server, submission: Submission, tx_code: str | None, op_codes: list[str],
             result_xdr: str | None, described: str) -> Outcome:
    if tx_code is None:
        # A rate limiter, an access rule or a size limit answered, not core: fate unknown.
        _note(submission, f"submit: {described}")
        log.warning("submission %s: %s without result codes; its fate will be settled by hash",
                    submission.hash, described)
        return Outcome(SubmissionState.PENDING, submission)
    if tx_code not in REFUSED_NOT_APPLIED:
        # Applied in a ledger and failed: sequence used, fee charged, no operation applied.
        codes = json.dumps({"transaction": tx_code, "operations": op_codes})
        _mark(submission, SubmissionState.FAILED, result_codes=codes, result_xdr=result_xdr)
        _expire_siblings(submission)
        return Outcome(SubmissionState.FAILED, submission, tx_code=tx_code, op_codes=op_codes)
    _note(submission, f"submit refused: {tx_code}")
    if tx_code in UNKNOWN_REFUSALS:
        return settle(server, submission, resubmit=False)
    # Core refused this POST; an earlier one may still be queued, so the row stays live.
    return Outcome(SubmissionState.PENDING, submission, tx_code=tx_code)


def _note(submission: Submission, error: str) -> None:
    Submission.update(error=error[:500]).where(Submission.id == submission.id).execute()


def _describe(exc: BaseRequestError | Exception) -> str:
    status = getattr(exc, "status", None)
    title = getattr(exc, "title", None) or type(exc).__name__
    return f"{status} {title}" if status else f"{title}: {exc}"[:300]


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


def settle(server: Server, submission: Submission, *, resubmit: bool = True,
           asynchronous: bool = False) -> Outcome:
    """Settle a family by hash; resubmit its newest member while it may still apply.

    Found -> its result. Not found by a node whose ``Latest-Ledger`` proves the envelope can
    no longer apply -> expired (see :func:`_why_dead`). Any other answer -> unknown: the
    same envelope is sent again when Horizon said it does not know it (a 404; to
    ``/transactions_async`` when ``asynchronous``), and the family stays live.
    """
    members = family(submission)
    done = [m for m in members if m.state in (SubmissionState.SUCCEEDED, SubmissionState.FAILED)]
    if done:
        return settled_outcome(done[0])
    live = [m for m in members if m.state in LIVE]
    if not live:
        return settled_outcome(members[-1])
    newest = live[-1]
    lookup = read(server, f"/transactions/{newest.inner_hash}")
    if lookup.found:
        return _record_success(newest, lookup.body or {})
    reason = _why_dead(server, newest, lookup) if lookup.missing else None
    if reason:
        for member in live:
            _mark(member, SubmissionState.EXPIRED, error=reason)
        log.info("submission %s expired: %s", newest.hash, reason)
        return Outcome(SubmissionState.EXPIRED, Submission.get_by_id(newest.id))
    if lookup.status != 404:
        log.warning("settling %s: %s; will look again", newest.hash, lookup.summary)
        return Outcome(SubmissionState.PENDING, newest)
    if not resubmit:
        return Outcome(SubmissionState.PENDING, newest)
    return submit_async(server, newest) if asynchronous else submit(server, newest)


def _why_dead(server: Server, submission: Submission, lookup: Answer) -> str | None:
    """Why the envelope can never apply, proven by the node that did not know its hash.

    That node has ingested every ledger up to ``seen`` (Horizon ingests a ledger's
    transactions and accounts together), so the envelope did not apply up to there. It is
    dead when no later ledger can take it: ``seen`` reached its ledger bound; or its source
    account's sequence is at or past the envelope's and was set in a ledger at or before
    ``seen`` (another transaction used the number); or ledger ``seen`` closed after its max
    time. A node behind any of these proves nothing.
    """
    seen = lookup.latest_ledger
    if seen is None:
        return None
    if submission.max_ledger and seen >= submission.max_ledger - 1:
        return (f"ledger bound {submission.max_ledger} reached: a node at ledger {seen} "
                "does not know it")
    account = read(server, f"/accounts/{submission.source_account}")
    if account.found:
        body = account.body or {}
        used_in = body.get("sequence_ledger") or body.get("last_modified_ledger")
        if int(body["sequence"]) >= submission.sequence and used_in and int(used_in) <= seen:
            return (f"sequence {submission.sequence} used by another transaction (by ledger "
                    f"{used_in}; a node at ledger {seen} does not know this one)")
    if submission.max_time:
        ledger = read(server, f"/ledgers/{seen}")
        if ledger.found and _epoch((ledger.body or {})["closed_at"]) > submission.max_time:
            return (f"max time {submission.max_time} passed (ledger {seen} closed "
                    f"{_epoch((ledger.body or {})['closed_at'])}; that node does not know it)")
    return None


def _epoch(closed_at: str) -> int:
    return int(dt.datetime.fromisoformat(closed_at.replace("Z", "+00:00")).timestamp())


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
