"""sendTransaction, getTransaction and getTransactions, as stellar-rpc answers them.

sendTransaction hands the envelope to the same queue Horizon's submissions use and answers
core's verdict at once: PENDING, DUPLICATE (already queued), TRY_AGAIN_LATER (its source has
another transaction queued) or ERROR with ``errorResultXdr`` (an envelope that already applied
is ERROR ``txBAD_SEQ``, as core says). Lookups know only the retained ledgers of the answering
node: anything older, newer or unknown is NOT_FOUND with that node's ``latestLedger``.
``resultMetaXdr`` is a TransactionMetaV4 holding the CAP-67 events (fee and operations)
without ledger entry changes.
"""

from __future__ import annotations

import base64
from typing import Any

from stellar_sdk import xdr

from ..envelopes import MalformedEnvelope, decode
from ..history import TxRecord
from ..network import ERROR, TRY_AGAIN_LATER
from ..units import toid
from .events import Encoder, contract_event, tx_index
from .protocol import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    TX_MASK,
    RpcError,
    check_format,
    invalid,
    obj,
    text,
    uint,
)
from .window import Call, ledger_transactions

DEFAULT_LIMIT = 50  # default-transactions-limit
MAX_LIMIT = 200  # max-transactions-limit


def send_transaction(call: Call, try_again_later: bool = False) -> dict[str, Any]:
    """Admit the envelope (unless a TRY_AGAIN_LATER fault answers first)."""
    check_format(call.params)
    net = call.state.net
    try:
        env = decode(text(call.params, "transaction"), net.passphrase)
    except MalformedEnvelope:
        raise RpcError(INVALID_PARAMS, "invalid_xdr") from None
    body: dict[str, Any] = {"hash": env.hash_hex}
    if try_again_later:
        body["status"] = TRY_AGAIN_LATER
    else:
        admission = net.submit(env)
        body["status"] = admission.status
        if admission.status == ERROR and admission.error is not None:
            body["errorResultXdr"] = admission.error.to_xdr()
    latest = call.view.latest
    body.update(latestLedger=latest.sequence, latestLedgerCloseTime=str(latest.closed_at))
    return body


def _meta(encoder: Encoder, rec: TxRecord) -> tuple[str, dict[str, Any]]:
    """(TransactionMetaV4 XDR, the ``events`` object) of an applied transaction."""
    fee = xdr.TransactionEvent(xdr.TransactionEventStage.TRANSACTION_EVENT_STAGE_BEFORE_ALL_TXS,
                               contract_event(encoder.fee(rec)))
    per_op = [[contract_event(raw) for raw in raws] for raws in encoder.transaction(rec)]
    meta = xdr.TransactionMeta(4, v4=xdr.TransactionMetaV4(
        ext=xdr.ExtensionPoint(0), tx_changes_before=xdr.LedgerEntryChanges([]),
        operations=[xdr.OperationMetaV2(xdr.ExtensionPoint(0), xdr.LedgerEntryChanges([]),
                                        events) for events in per_op],
        tx_changes_after=xdr.LedgerEntryChanges([]), soroban_meta=None, events=[fee],
        diagnostic_events=[]))
    events = {
        "transactionEventsXdr": [fee.to_xdr()],
        "contractEventsXdr": [[e.to_xdr() for e in events] for events in per_op],
    }
    return base64.b64encode(meta.to_xdr_bytes()).decode(), events


def _details(encoder: Encoder, rec: TxRecord) -> dict[str, Any]:
    meta, events = _meta(encoder, rec)
    return {
        "status": "SUCCESS" if rec.successful else "FAILED",
        "txHash": rec.env.hash_hex,
        "applicationOrder": tx_index(rec),
        "feeBump": rec.env.is_fee_bump,
        "envelopeXdr": rec.env.envelope_xdr,
        "resultXdr": rec.result_xdr,
        "resultMetaXdr": meta,
        "ledger": rec.ledger,
        "events": events,
    }


def get_transaction(call: Call) -> dict[str, Any]:
    check_format(call.params)
    tx_hash = text(call.params, "hash")
    if len(tx_hash) != 64:
        raise invalid(f"unexpected hash length ({len(tx_hash)})")
    try:
        bytes.fromhex(tx_hash)
    except ValueError as exc:
        raise invalid(f"incorrect hash: {exc}") from None
    view = call.view
    body: dict[str, Any] = {
        "latestLedger": view.latest.sequence,
        "latestLedgerCloseTime": str(view.latest.closed_at),
        "oldestLedger": view.oldest.sequence,
        "oldestLedgerCloseTime": str(view.oldest.closed_at),
    }
    rec = call.state.net.lookup(tx_hash)
    if rec is None or not view.holds(rec.ledger):
        return {**body, "status": "NOT_FOUND", "txHash": tx_hash}
    return {**body, **_details(call.state.encoder, rec), "txHash": tx_hash,
            "createdAt": str(rec.closed_at)}


def get_transactions(call: Call) -> dict[str, Any]:
    """Transactions from ``startLedger`` (or after the TOID ``pagination.cursor``) up to the
    latest ledger, ``limit`` (default 50, at most 200) at a time."""
    params, view = call.params, call.view
    start = uint(params, "startLedger")
    pagination = obj(params, "pagination")
    cursor = pagination.get("cursor") or ""
    if not isinstance(cursor, str):
        raise invalid("invalid parameters: json: cannot unmarshal number into Go struct field "
                      "TransactionsPaginationOptions.pagination.cursor of type string")
    limit = uint(pagination, "limit")
    oldest, latest = view.oldest.sequence, view.latest.sequence
    if cursor and start:
        raise RpcError(INVALID_REQUEST, "startLedger and cursor cannot both be set")
    if not cursor and not view.holds(start):
        raise RpcError(INVALID_REQUEST, f"start ledger must be between the oldest ledger: "
                                        f"{oldest} and the latest ledger: {latest} for this "
                                        "rpc instance")
    if limit > MAX_LIMIT:
        raise RpcError(INVALID_REQUEST, f"limit must not exceed {MAX_LIMIT}")
    check_format(params)
    limit = limit or DEFAULT_LIMIT
    first_tx = 1
    if cursor:
        try:
            number = int(cursor)
        except ValueError:
            raise invalid(f'strconv.ParseInt: parsing "{cursor}": invalid syntax') from None
        start, first_tx = number >> 32, ((number >> 12) & TX_MASK) + 1
    found: list[dict[str, Any]] = []
    position = 0
    for ledger in range(start, latest + 1):
        if ledger < oldest:
            raise invalid(f"database does not contain metadata for ledger: {ledger}")
        position = toid(ledger, 0, 1)
        for rec in ledger_transactions(call.state.net, ledger):
            index = tx_index(rec)
            if ledger == start and index < first_tx:
                continue
            position = toid(ledger, index, 1)
            found.append({**_details(call.state.encoder, rec), "createdAt": rec.closed_at})
            if len(found) >= limit:
                break
        if len(found) >= limit:
            break
    return {
        "transactions": found,
        "latestLedger": latest,
        "latestLedgerCloseTimestamp": view.latest.closed_at,
        "oldestLedger": oldest,
        "oldestLedgerCloseTimestamp": view.oldest.closed_at,
        "cursor": str(position),
    }

