"""What a deposit's row must say for its payment to be encoded: memo and destination.

A row the API server (or a person) wrote may hold a memo that no Stellar memo can carry or a
destination that is no account; building the envelope would fail the same way every time.
Such a deposit is ended in ``error`` once, with a message naming the field.
"""

from __future__ import annotations

import base64

from stellar_sdk import HashMemo, IdMemo, Memo, MuxedAccount, NoneMemo, TextMemo

from anchor_dramatiq.errors import Unencodable
from anchor_dramatiq.models import Transaction

MEMO_TYPES = ("text", "id", "hash")


def memo_of(transaction: Transaction) -> Memo:
    """The Stellar memo of a deposit (Polaris stores a hash memo base64-encoded)."""
    memo, memo_type = transaction.memo, transaction.memo_type
    if not memo:
        return NoneMemo()
    if memo_type not in (None, "", *MEMO_TYPES):
        raise Unencodable(f"memo_type {memo_type!r} is not one of {', '.join(MEMO_TYPES)}")
    try:
        if memo_type == "id":
            return IdMemo(int(memo))
        if memo_type == "hash":
            return HashMemo(base64.b64decode(memo, validate=True))
        return TextMemo(memo)
    except ValueError as exc:  # also base64's binascii.Error and MemoInvalidException
        kind = memo_type or "text"
        raise Unencodable(f"memo {memo!r} is not a valid {kind} memo ({exc})") from None


def why_unencodable(transaction: Transaction) -> str | None:
    """None if the deposit can be encoded, else what is wrong (naming the field)."""
    try:
        MuxedAccount.from_account(transaction.to_address or "")
    except ValueError:
        return (f"to_address {transaction.to_address!r} is not a Stellar account (G...) or "
                "muxed account (M...)")
    try:
        memo_of(transaction)
    except Unencodable as exc:
        return str(exc)
    return None
