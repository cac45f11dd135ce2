"""Plain-dict views of the ledger for test assertions (admin API and the Python API).

These are simnet's own shapes, not Horizon's: balances come with exact stroops, and payments
are flattened to what a test usually checks (who, what, how much, which memo).
"""

from __future__ import annotations

from typing import Any

from stellar_sdk import StrKey, xdr

from .assets import NATIVE, asset_key, is_valid_code, muxed
from .history import OpRecord, TxRecord
from .ledger import Account
from .network import Network
from .resources import memo_fields
from .results import result_codes
from .units import amount_str


def parse_asset(text: str) -> str:
    """``"native"``/``"XLM"`` or ``"CODE:ISSUER"`` -> asset key (ValueError if invalid)."""
    if text.lower() in (NATIVE, "xlm"):
        return NATIVE
    code, _, issuer = text.partition(":")
    if not is_valid_code(code) or not StrKey.is_valid_ed25519_public_key(issuer):
        raise ValueError(f"invalid asset {text!r}; use native or CODE:ISSUER")
    return f"{code}:{issuer}"


def summary(net: Network) -> dict[str, Any]:
    latest = net.history.latest
    return {
        "ledger": latest.sequence,
        "closed_at": latest.closed_at,
        "network_passphrase": net.passphrase,
        "root_account": net.root.public_key,
        "friendbot_account": net.friendbot_keypair.public_key,
        "base_fee": net.base_fee,
        "last_ledger_base_fee": latest.base_fee,
        "base_reserve": net.state.base_reserve,
        "ledger_interval": net.ledger_interval,
        "ledger_capacity": net.ledger_capacity,
        "queued_transactions": len(net.queue),
    }


def account(acc: Account) -> dict[str, Any]:
    balances = [{"asset": NATIVE, "balance": amount_str(acc.balance), "stroops": acc.balance}]
    for key, line in acc.trustlines.items():
        balances.append({
            "asset": key, "balance": amount_str(line.balance), "stroops": line.balance,
            "limit": amount_str(line.limit), "authorized": line.authorized,
            "authorized_to_maintain_liabilities": line.authorized_to_maintain_liabilities,
        })
    return {
        "account_id": acc.account_id,
        "sequence": acc.seq,
        "balances": balances,
        "subentries": acc.subentries,
        "num_sponsoring": acc.num_sponsoring,
        "flags": acc.flags,
        "master_weight": acc.master_weight,
        "thresholds": [acc.low_threshold, acc.med_threshold, acc.high_threshold],
        "signers": dict(acc.signers),
        "data": {k: v.hex() for k, v in acc.data.items()},
    }


def transaction(rec: TxRecord) -> dict[str, Any]:
    env = rec.env
    return {
        "hash": env.hash_hex,
        "inner_hash": env.inner_hash.hex() if env.inner_hash else None,
        "ledger": rec.ledger,
        "paging_token": str(rec.id),
        "successful": rec.successful,
        "source": env.source,
        "fee_account": env.fee_source,
        "sequence": env.seq,
        "fee_charged": rec.fee_charged,
        "operation_count": len(env.ops),
        "result_codes": result_codes(rec.result),
        **memo_fields(env.tx.memo),
    }


def transactions(net: Network, account_id: str | None = None) -> list[dict[str, Any]]:
    records = net.history.account_txs.get(account_id, []) if account_id else (
        net.history.transactions)
    return [transaction(r) for r in records]


def payment(rec: OpRecord) -> dict[str, Any]:
    """One payment-like operation: amount is what the destination received."""
    b, t = rec.op.body, rec.op.body.type
    T = xdr.OperationType
    out: dict[str, Any] = {"id": str(rec.id), "transaction_hash": rec.tx.env.hash_hex,
                           "ledger": rec.tx.ledger, "successful": rec.tx.successful,
                           "type": t.name.lower(), "from": rec.source}
    if t == T.CREATE_ACCOUNT:
        dest, dest_m, dest_id = StrKey.encode_ed25519_public_key(
            b.create_account_op.destination.account_id.ed25519.uint256), None, None
        asset, amount = NATIVE, b.create_account_op.starting_balance.int64
    elif t == T.PAYMENT:
        dest, dest_m, dest_id = muxed(b.payment_op.destination)
        asset, amount = asset_key(b.payment_op.asset), b.payment_op.amount.int64
    elif t == T.PATH_PAYMENT_STRICT_SEND:
        o = b.path_payment_strict_send_op
        dest, dest_m, dest_id = muxed(o.destination)
        asset, amount = asset_key(o.dest_asset), int(rec.extra.get("amount", 0))
    elif t == T.PATH_PAYMENT_STRICT_RECEIVE:
        o = b.path_payment_strict_receive_op
        dest, dest_m, dest_id = muxed(o.destination)
        asset, amount = asset_key(o.dest_asset), o.dest_amount.int64
    else:
        dest, dest_m, dest_id = muxed(b.destination)
        asset, amount = NATIVE, int(rec.extra.get("amount", 0))
    out.update({"to": dest, "to_muxed": dest_m, "to_muxed_id": dest_id, "asset": asset,
                "amount": amount_str(amount), "stroops": amount,
                **memo_fields(rec.tx.env.tx.memo)})
    return out


def payments(net: Network, account_id: str | None = None) -> list[dict[str, Any]]:
    records = net.history.account_payments.get(account_id, []) if account_id else (
        net.history.payments)
    return [payment(r) for r in records]
