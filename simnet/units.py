"""Amounts, paging tokens and timestamps in the forms Horizon uses.

Balances are integers of stroops everywhere inside simnet; only Horizon JSON turns them into
seven-decimal strings, so no rounding can ever creep into the ledger.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

STROOPS_PER_UNIT = 10_000_000
INT64_MAX = 2**63 - 1


def amount_str(stroops: int) -> str:
    """Seven-decimal string, e.g. ``"12.5000000"``."""
    sign = "-" if stroops < 0 else ""
    whole, frac = divmod(abs(stroops), STROOPS_PER_UNIT)
    return f"{sign}{whole}.{frac:07d}"


def to_decimal(stroops: int) -> Decimal:
    """Exact Decimal for the Python API."""
    return Decimal(stroops).scaleb(-7)


def to_stroops(amount: str | Decimal | int) -> int:
    """Parse an amount in units (``"10.5"``) into stroops; rejects more than 7 decimals."""
    value = Decimal(str(amount)) * STROOPS_PER_UNIT
    if value != value.to_integral_value():
        raise ValueError(f"amount {amount!r} has more than 7 decimal places")
    return int(value)


def toid(ledger: int, tx_order: int = 0, op_order: int = 0) -> int:
    """Horizon's total order id: ``ledger<<32 | tx<<12 | op``; every paging token is one."""
    return (ledger << 32) | (tx_order << 12) | op_order


def iso_time(unix: int) -> str:
    """RFC 3339 UTC seconds, as Horizon writes ``created_at``/``closed_at``."""
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
