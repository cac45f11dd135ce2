"""Horizon payment records (``/accounts/{a}/payments?join=transactions``) as ``anchor_payment`` rows.

Only payments *to* the watched account are recorded: ``payment`` and the path payments
(whose ``amount`` is what was delivered). ``create_account`` and ``account_merge`` records,
and payments the account sent, are skipped. The memo comes from the joined transaction,
which for a fee-bump is the inner transaction's memo; a record without it falls back to
decoding the envelope XDR (fee-bump or not).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any

from stellar_sdk import Server, ServerAsync, xdr

from anchor_dramatiq.models import Payment
from anchor_dramatiq.paging import ledger_of
from anchor_dramatiq.payments import PAYMENT_TYPES

Record = dict[str, Any]

PAGE = 200  # Horizon's largest page


def payments_request(server: Server | ServerAsync, account: str, cursor: str | None,
                     descending: bool = False, limit: int = PAGE) -> Any:
    """The request for ``account``'s payments joined with their transactions, after (or,
    descending, before) ``cursor``: the streamer's catch-up and stream, and the reconcile sweep."""
    builder = (server.payments().for_account(account).join("transactions")
               .order(desc=descending).limit(limit))
    return builder if cursor is None else builder.cursor(cursor)


def is_incoming(record: Record, account: str) -> bool:
    """A payment that delivers an asset to ``account`` (possibly through one of its M-addresses)."""
    return record.get("type") in PAYMENT_TYPES and record.get("to") == account


def memo_from_envelope(envelope_xdr: str) -> tuple[str | None, str]:
    """``(memo, memo_type)`` in Horizon's form, from a plain, v0 or fee-bump envelope."""
    # The XDR union's arms are Optional by type; the discriminant says which one is set.
    env: Any = xdr.TransactionEnvelope.from_xdr(envelope_xdr)
    if env.type == xdr.EnvelopeType.ENVELOPE_TYPE_TX_FEE_BUMP:
        memo = env.fee_bump.tx.inner_tx.v1.tx.memo
    elif env.type == xdr.EnvelopeType.ENVELOPE_TYPE_TX_V0:
        memo = env.v0.tx.memo
    else:
        memo = env.v1.tx.memo
    kind = memo.type
    if kind == xdr.MemoType.MEMO_TEXT:
        return memo.text.decode("utf-8", errors="replace"), "text"
    if kind == xdr.MemoType.MEMO_ID:
        return str(memo.id.uint64), "id"
    if kind == xdr.MemoType.MEMO_HASH:
        return base64.b64encode(memo.hash.hash).decode(), "hash"
    if kind == xdr.MemoType.MEMO_RETURN:
        return base64.b64encode(memo.ret_hash.hash).decode(), "return"
    return None, "none"


def _memo(tx: Record) -> tuple[str | None, str | None]:
    if tx.get("memo_type"):
        memo_type = tx["memo_type"]
        return (None if memo_type == "none" else tx.get("memo")), memo_type
    if tx.get("envelope_xdr"):
        return memo_from_envelope(tx["envelope_xdr"])
    return None, None


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)


def payment_fields(record: Record, account: str) -> dict[str, Any]:
    """The ``anchor_payment`` columns for one Horizon payment record (joined with its transaction)."""
    tx = record.get("transaction") or {}
    memo, memo_type = _memo(tx)
    successful = record.get("transaction_successful", tx.get("successful"))
    stored = {k: v for k, v in record.items() if k != "_links"}
    if isinstance(stored.get("transaction"), dict):
        stored["transaction"] = {k: v for k, v in tx.items() if k != "_links"}
    return {
        "operation_id": record["id"],
        "paging_token": record["paging_token"],
        "account": account,
        "transaction_hash": record.get("transaction_hash") or tx.get("hash"),
        "operation_type": record["type"],
        "from_address": record.get("from_muxed") or record.get("from"),
        "to_address": record.get("to"),
        "to_muxed": record.get("to_muxed"),
        "to_muxed_id": str(record["to_muxed_id"]) if record.get("to_muxed_id") is not None else None,
        "asset_type": record.get("asset_type"),
        "asset_code": "native" if record.get("asset_type") == "native" else record.get("asset_code"),
        "asset_issuer": record.get("asset_issuer"),
        "amount": Decimal(record["amount"]) if record.get("amount") is not None else None,
        "memo": memo,
        "memo_type": memo_type,
        "successful": bool(successful) if successful is not None else False,
        "ledger": tx.get("ledger") or ledger_of(record["paging_token"]),
        "created_at": parse_time(record.get("created_at")),
        "record_json": json.dumps(stored, sort_keys=True),
    }


def needs_transaction(record: Record) -> bool:
    """True when the record came without its transaction (no join): the memo must be fetched."""
    tx = record.get("transaction")
    return not (isinstance(tx, dict) and (tx.get("memo_type") or tx.get("envelope_xdr")))


def insert_payments(rows: list[dict[str, Any]]) -> list[str]:
    """Insert the ``anchor_payment`` rows whose operation ids are not recorded yet, in one
    statement; the operation ids that were new.

    Runs inside the caller's transaction. ``ON CONFLICT DO NOTHING`` (PostgreSQL) or
    ``INSERT OR IGNORE`` (SQLite) makes a row another streamer or the reconcile sweep wrote
    first a no-op instead of an error that would abort the batch.
    """
    if not rows:
        return []
    ids = [row["operation_id"] for row in rows]
    known = {row.operation_id for row in
             Payment.select(Payment.operation_id).where(Payment.operation_id.in_(ids))}
    new = [row for row in rows if row["operation_id"] not in known]
    # One statement per set of columns: insert_many takes its columns from the first row, so a
    # row with more (a forged event's, settled at recording) would lose them among the others.
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in new:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    for same in shapes.values():
        Payment.insert_many(same).on_conflict_ignore().execute()
    return [row["operation_id"] for row in new]
