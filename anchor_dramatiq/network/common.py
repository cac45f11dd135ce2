"""Small conversions both implementations share (Horizon's spellings are the reference)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from stellar_sdk import xdr

from anchor_dramatiq.stellar.submission import MIN_BASE_FEE, failure_codes

STROOPS = Decimal("0.0000001")
AUTHORIZED = xdr.TrustLineFlags.AUTHORIZED_FLAG.value
AUTHORIZED_TO_MAINTAIN = xdr.TrustLineFlags.AUTHORIZED_TO_MAINTAIN_LIABILITIES_FLAG.value


def stroops_to_amount(stroops: int) -> Decimal:
    """An XDR amount (stroops, or an i128) as a Decimal with 7 places."""
    return (Decimal(stroops) * STROOPS).quantize(STROOPS)


def epoch(closed_at: str) -> int:
    return int(dt.datetime.fromisoformat(closed_at.replace("Z", "+00:00")).timestamp())


def capped_bid(wanted: int, cap: int) -> int:
    return min(max(MIN_BASE_FEE, wanted), cap)


def refusal_codes(result_xdr: str) -> tuple[str | None, tuple[str, ...]]:
    """Core's refusal (a TransactionResult XDR) as Horizon's strings; a fee-bump's inner code."""
    parsed = failure_codes(result_xdr)
    return parsed.get("transaction"), tuple(parsed.get("operations", []))
