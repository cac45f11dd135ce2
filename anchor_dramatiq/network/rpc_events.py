"""Incoming payments from RPC ``getEvents``: CAP-67 ``transfer`` and ``mint`` events to watched
accounts, turned into the same ``anchor_payment`` rows Horizon's records give.

Filters: one topic filter per (event kind, watched account) -- ``[transfer, *, to, *]`` and
``[mint, to, *]`` -- packed 5 topic filters per filter and 5 filters per request, so any
number of accounts takes ``ceil(2 * accounts / 25)`` requests. The filters name no contract:
every asset's events to a watched account arrive (a look-alike asset is recorded and rejected by
the matcher, as with Horizon), and an event is credited to the asset its last topic names only
when that asset's own Stellar Asset Contract emitted it. Any other contract's event moves no
Stellar asset: it becomes a *claim* (:func:`claim_row`), which the caller records as rejected
when it names one of the anchor's assets (``payments/forged.py``) and ignores otherwise.

Memo and muxed id: the event's value is the amount (i128) or a map ``{amount, to_muxed_id}``
where ``to_muxed_id`` is a text memo (string), a hash memo (bytes) or a u64 (a muxed id *or* an
id memo: ambiguous). Where the map settles it the row is made from the event; otherwise (u64,
no map, the native asset whose events also come from merges) the transaction is read with
``getTransaction`` and the operation's own type, destination and memo are used.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from stellar_sdk import Asset, MuxedAccount, scval, xdr
from stellar_sdk.soroban_rpc import EventFilter, EventFilterType, EventInfo

from anchor_dramatiq.network.common import stroops_to_amount
from anchor_dramatiq.paging import toid
from anchor_dramatiq.payments import PAYMENT_TYPES
from anchor_dramatiq.payments.records import memo_from_envelope, payment_fields

MAX_FILTERS = 5  # getEvents: filters per request
MAX_TOPIC_FILTERS = 5  # topic filters per filter
TRANSFER, MINT = "transfer", "mint"
# Horizon's operation type of a plain payment (its types are the XDR names, lower case).
PAYMENT = xdr.OperationType.PAYMENT.name.lower()
# Only a contract invocation emits an event no Stellar Asset Contract emitted.
INVOKE = xdr.OperationType.INVOKE_HOST_FUNCTION.name.lower()
# The largest amount a Stellar asset can hold (int64 stroops); a claim may name any i128.
MAX_STROOPS = 2**63 - 1
MAX_MEMO_TEXT, HASH_BYTES = 28, 32
ANY = "*"
TEXT_MEMO, HASH_MEMO = xdr.MemoType.MEMO_TEXT, xdr.MemoType.MEMO_HASH

#: Reads a transaction's envelope by hash; None when the node does not answer it.
EnvelopeReader = Callable[[str], str | None]


class Unreadable(Exception):
    """A transaction an event needs could not be read now: the page is not taken."""


def _symbol(word: str) -> str:
    return scval.to_symbol(word).to_xdr()


def _address(account: str) -> str:
    return scval.to_address(account).to_xdr()


def topic_filters(account: str) -> list[list[str]]:
    """CAP-67's ``transfer(from, to, asset)`` and ``mint(to, asset)`` with ``to`` = account."""
    return [[_symbol(TRANSFER), ANY, _address(account), ANY], [_symbol(MINT), _address(account), ANY]]


def request_filters(accounts: Sequence[str]) -> list[list[EventFilter]]:
    """The filters of each request needed to watch ``accounts``, within getEvents' limits."""
    topics = [t for account in accounts for t in topic_filters(account)]
    per_request = MAX_FILTERS * MAX_TOPIC_FILTERS
    requests = []
    for start in range(0, len(topics), per_request):
        chunk = topics[start:start + per_request]
        requests.append([EventFilter(type=EventFilterType.CONTRACT,
                                     topics=chunk[i:i + MAX_TOPIC_FILTERS])
                         for i in range(0, len(chunk), MAX_TOPIC_FILTERS)])
    return requests


@lru_cache(maxsize=4096)
def asset_contract(sep11: str, passphrase: str) -> tuple[Asset, str] | None:
    """The asset a SEP-11 string names and its Stellar Asset Contract id; None if malformed."""
    try:
        asset = Asset.native() if sep11 == "native" else Asset(*sep11.split(":", 1))
    except (TypeError, ValueError):
        return None
    return asset, asset.contract_id(passphrase)


def payment_row(event: EventInfo, watched: frozenset[str], passphrase: str,
                read_envelope: EnvelopeReader) -> dict[str, Any] | None:
    """The row for one event, or None when it is not a payment to a watched account. An event
    to a watched account naming an asset whose own contract did not emit it is a claim row
    (``forged_by`` set, see :func:`claim_row`). Raises :class:`Unreadable` when the
    transaction it needs is not answered now."""
    topics = [xdr.SCVal.from_xdr(t) for t in event.topic]
    if not topics or topics[0].type != xdr.SCValType.SCV_SYMBOL:
        return None
    kind = scval.from_symbol(topics[0])
    if kind == TRANSFER and len(topics) == 4:
        source, to, named = _address_of(topics[1]), _address_of(topics[2]), topics[3]
    elif kind == MINT and len(topics) == 3:
        source, to, named = None, _address_of(topics[1]), topics[2]
    else:
        return None
    if to not in watched or named.type != xdr.SCValType.SCV_STRING:
        return None
    claimed = scval.from_string(named).decode("utf-8", errors="replace")
    found = asset_contract(claimed, passphrase)
    if found is None or found[1] != event.contract_id:
        # Not emitted by the named asset's own contract: it moves no Stellar asset.
        return claim_row(event, kind, source, to, claimed)
    asset = found[0]
    amount, muxed_value = _value(xdr.SCVal.from_xdr(event.value))
    record: dict[str, Any] = {
        # Horizon's operation id (its TOID counts operations from 1), so rows recorded from
        # Horizon and from RPC are the same rows.
        "id": str(toid(event.ledger, event.transaction_index, event.operation_index + 1)),
        "paging_token": event.id,
        "transaction_hash": event.transaction_hash,
        "type": PAYMENT,
        "from": source if source is not None else asset.issuer,
        "to": to,
        "asset_type": asset.type,
        "asset_code": asset.code,
        "asset_issuer": asset.issuer,
        "amount": str(stroops_to_amount(amount)),
        "created_at": event.ledger_close_at.isoformat().replace("+00:00", "Z"),
        "transaction_successful": True,  # a failed transaction emits no transfer events
        "event": {"kind": kind, "id": event.id, "contract_id": event.contract_id},
    }
    tx: dict[str, Any] = {"hash": event.transaction_hash, "ledger": event.ledger,
                          "successful": True}
    if muxed_value is not None and muxed_value.type == xdr.SCValType.SCV_STRING and not asset.is_native():
        tx.update(memo=scval.from_string(muxed_value).decode("utf-8", errors="replace"),
                  memo_type=_memo_word(TEXT_MEMO))
    elif muxed_value is not None and muxed_value.type == xdr.SCValType.SCV_BYTES and not asset.is_native():
        tx.update(memo=base64.b64encode(scval.from_bytes(muxed_value)).decode(),
                  memo_type=_memo_word(HASH_MEMO))
    else:
        envelope = read_envelope(event.transaction_hash)
        if envelope is None:
            raise Unreadable(event.transaction_hash)
        operation = _operation(envelope, event.operation_index)
        if operation is None:
            return None  # not a payment in Horizon's sense (a merge, a trade, a claim)
        record.update(operation)
        memo, memo_type = memo_from_envelope(envelope)
        tx.update(memo=memo, memo_type=memo_type, envelope_xdr=envelope)
    record["transaction"] = tx
    return payment_fields(record, to)


def claim_row(event: EventInfo, kind: str, source: str | None, to: str,
              claimed: str) -> dict[str, Any]:
    """An ``anchor_payment`` row for an event that claims to move ``claimed`` (a SEP-11 string)
    but that asset's own contract did not emit: ``forged_by`` is the contract that did.

    Its ``operation_id`` is the event id (an invocation may also make a real transfer, whose
    row has the operation's id); its fields are the event's, bounded to the columns (a
    contract can put anything in an event); the transaction is not read. Nothing here says
    whether it names one of the anchor's assets: the caller decides whether to record it.
    """
    code, _, issuer = claimed.partition(":")
    amount, memo, memo_type = _claimed_value(event.value)
    record = {"event": {"kind": kind, "id": event.id, "contract_id": event.contract_id,
                        "asset": claimed[:200], "amount": amount},
              "transaction_hash": event.transaction_hash}
    return {
        "operation_id": event.id,
        "paging_token": event.id,
        "account": to,
        "transaction_hash": event.transaction_hash,
        "operation_type": INVOKE,
        "from_address": source,
        "to_address": to,
        "to_muxed": None,
        "to_muxed_id": None,
        "asset_type": None,
        "asset_code": code[:12],
        "asset_issuer": issuer if len(issuer) == 56 else None,
        "amount": (stroops_to_amount(amount) if isinstance(amount, int) and 0 <= amount <= MAX_STROOPS
                   else None),
        "memo": memo,
        "memo_type": memo_type,
        "successful": True,
        "ledger": event.ledger,
        "created_at": event.ledger_close_at.astimezone(dt.UTC),
        "record_json": json.dumps(record, sort_keys=True, default=str),
        "forged_by": event.contract_id,
    }


def _claimed_value(value_xdr: str) -> tuple[int | str | None, str | None, str | None]:
    """(amount in stroops, memo, memo type) of a claim's value as far as it reads like a
    transfer's: anything else is None (an amount that is no i128 is kept as its type name)."""
    value = xdr.SCVal.from_xdr(value_xdr)
    muxed = None
    if value.type == xdr.SCValType.SCV_MAP and value.map is not None:
        entries = {scval.from_symbol(e.key): e.val for e in value.map.sc_map
                   if e.key.type == xdr.SCValType.SCV_SYMBOL}
        value, muxed = entries.get("amount", value), entries.get("to_muxed_id")
    amount: int | str | None = (scval.from_int128(value) if value.type == xdr.SCValType.SCV_I128
                                else value.type.name)
    if muxed is not None and muxed.type == xdr.SCValType.SCV_STRING:
        text = scval.from_string(muxed)
        if len(text) <= MAX_MEMO_TEXT:
            return amount, text.decode("utf-8", errors="replace"), _memo_word(TEXT_MEMO)
    if muxed is not None and muxed.type == xdr.SCValType.SCV_BYTES:
        raw = scval.from_bytes(muxed)
        if len(raw) == HASH_BYTES:
            return amount, base64.b64encode(raw).decode(), _memo_word(HASH_MEMO)
    return amount, None, None


def _memo_word(kind: xdr.MemoType) -> str:
    """Horizon's ``memo_type`` word: the XDR name without its prefix (``text``, ``hash``)."""
    return kind.name.removeprefix("MEMO_").lower()


def _address_of(value: xdr.SCVal) -> str | None:
    if value.type != xdr.SCValType.SCV_ADDRESS:
        return None
    return scval.from_address(value).address


def _value(value: xdr.SCVal) -> tuple[int, xdr.SCVal | None]:
    """(amount in stroops, the ``to_muxed_id`` value if the event carries one)."""
    if value.type == xdr.SCValType.SCV_I128:
        return scval.from_int128(value), None
    if value.type != xdr.SCValType.SCV_MAP or value.map is None:
        raise ValueError(f"unexpected event value {value.type.name}")
    entries = {scval.from_symbol(e.key): e.val for e in value.map.sc_map
               if e.key.type == xdr.SCValType.SCV_SYMBOL}
    return scval.from_int128(entries["amount"]), entries.get("to_muxed_id")


def _operation(envelope_xdr: str, index: int) -> dict[str, Any] | None:
    """Horizon's ``type``/``from``/``to_muxed`` fields of the envelope's operation ``index``,
    or None when that operation is not one Horizon lists as a payment to its destination."""
    env: Any = xdr.TransactionEnvelope.from_xdr(envelope_xdr)
    if env.type == xdr.EnvelopeType.ENVELOPE_TYPE_TX_FEE_BUMP:
        tx = env.fee_bump.tx.inner_tx.v1.tx
    elif env.type == xdr.EnvelopeType.ENVELOPE_TYPE_TX_V0:
        tx = env.v0.tx
    else:
        tx = env.v1.tx
    if index >= len(tx.operations):
        return None
    op = tx.operations[index]
    kind = op.body.type.name.lower()
    if kind not in PAYMENT_TYPES:
        return None
    body = (op.body.payment_op or op.body.path_payment_strict_receive_op
            or op.body.path_payment_strict_send_op)
    source_xdr = op.source_account if op.source_account is not None else _tx_source(env, tx)
    fields: dict[str, Any] = {"type": kind}
    source = MuxedAccount.from_xdr_object(source_xdr)
    if source.account_muxed_id is not None:
        fields["from_muxed"] = source.account_muxed
    destination = MuxedAccount.from_xdr_object(body.destination)
    if destination.account_muxed_id is not None:
        fields["to_muxed"] = destination.account_muxed
        fields["to_muxed_id"] = str(destination.account_muxed_id)
    return fields


def _tx_source(env: Any, tx: Any) -> xdr.MuxedAccount:
    if env.type == xdr.EnvelopeType.ENVELOPE_TYPE_TX_V0:
        return xdr.MuxedAccount(xdr.CryptoKeyType.KEY_TYPE_ED25519, ed25519=tx.source_account_ed25519)
    return tx.source_account
