"""Rows and Horizon-shaped payment records for the withdrawal tests."""

from __future__ import annotations

import base64
import itertools
import uuid
from decimal import Decimal
from typing import Any

from stellar_sdk import Keypair

from anchor_dramatiq.config import get_settings
from anchor_dramatiq.crypto import Secret, encrypt_seed
from anchor_dramatiq.models import Asset, Transaction

_ops = itertools.count(1)
LEDGER = 1000


def make_asset(code: str = "USD", issuer: str | None = None, seed: str | None = None,
               significant_decimals: int = 2, **fields: Any) -> tuple[Asset, str]:
    """An asset with an encrypted distribution seed; returns it and its distribution account."""
    keypair = Keypair.from_secret(seed) if seed else Keypair.random()
    issuer = issuer or Keypair.random().public_key
    asset = Asset.create(code=code, issuer=issuer, significant_decimals=significant_decimals,
                         distribution_seed=encrypt_seed(Secret(keypair.secret),
                                                        get_settings().secret_key),
                         **fields)
    return asset, keypair.public_key


def hash_memo(transaction_id: uuid.UUID) -> str:
    """Polaris's default withdrawal memo: the UUID's hex left-padded to 32 bytes, base64."""
    return base64.b64encode(bytes.fromhex(transaction_id.hex.rjust(64, "0"))).decode()


def make_withdrawal(asset: Asset, account: str, *, memo: str | None = None, memo_type: str = "text",
                    kind: str = "withdrawal", status: str | None = None, protocol: str = "sep24",
                    amount_expected: Decimal | None = Decimal("10")) -> Transaction:
    status = status or ("pending_sender" if kind == "send" else "pending_user_transfer_start")
    transaction_id = uuid.uuid4()
    if memo is None:
        memo, memo_type = hash_memo(transaction_id), "hash"
    return Transaction.create(id=transaction_id, stellar_account=Keypair.random().public_key,
                              kind=kind, status=status, protocol=protocol, asset=asset,
                              memo=memo, memo_type=memo_type, receiving_anchor_account=account,
                              amount_expected=amount_expected, amount_in=None)


def payment_record(account: str, asset: Asset | None = None, amount: str = "10.0000000", *,
                   memo: str | None = None, memo_type: str = "text", successful: bool = True,
                   op_type: str = "payment", code: str | None = None, issuer: str | None = None,
                   to_muxed: str | None = None, to_muxed_id: str | None = None,
                   sender: str | None = None, transaction: dict[str, Any] | None = None,
                   ) -> dict[str, Any]:
    """A Horizon ``/accounts/{a}/payments?join=transactions`` record."""
    n = next(_ops)
    token = str((LEDGER << 32) | (n << 12) | 1)
    tx_hash = uuid.uuid4().hex * 2
    tx = transaction if transaction is not None else {
        "id": tx_hash, "hash": tx_hash, "ledger": LEDGER, "successful": successful,
        "memo_type": memo_type if memo is not None else "none",
        **({"memo": memo} if memo is not None else {}),
    }
    record: dict[str, Any] = {
        "id": token, "paging_token": token, "transaction_successful": successful,
        "source_account": sender or Keypair.random().public_key, "type": op_type,
        "created_at": "2026-11-24T04:00:00Z", "transaction_hash": tx_hash, "transaction": tx,
    }
    if op_type == "create_account":
        record.update({"account": account, "funder": record["source_account"],
                       "starting_balance": amount})
        return record
    if op_type == "account_merge":
        record.update({"account": record["source_account"], "into": account})
        return record
    record.update({"asset_type": "credit_alphanum4",
                   "asset_code": code or (asset.code if asset else "USD"),
                   "asset_issuer": issuer or (asset.issuer if asset else None),
                   "from": record["source_account"], "to": account, "amount": amount})
    if to_muxed:
        record.update({"to_muxed": to_muxed, "to_muxed_id": to_muxed_id})
    if op_type.startswith("path_payment"):
        record.update({"source_amount": "99.0000000", "source_asset_type": "native", "path": []})
    return record
