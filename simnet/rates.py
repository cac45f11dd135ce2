"""Conversion rates for path payments.

simnet has no order book: a path payment crosses each hop at a configured rate with unlimited
depth, so tests can pin exact amounts. A hop between the same asset always converts 1:1.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal


class RateTable:
    """``rate(a, b)`` = units of ``b`` bought by one unit of ``a``."""

    def __init__(self) -> None:
        self._rates: dict[tuple[str, str], Decimal] = {}

    def set(self, sell: str, buy: str, rate: Decimal | str | float) -> None:
        """Configure a hop; the reverse hop uses the inverse unless configured itself."""
        value = Decimal(str(rate))
        if value <= 0:
            raise ValueError("rate must be positive")
        self._rates[(sell, buy)] = value

    def clear(self) -> None:
        self._rates.clear()

    def snapshot(self) -> list[dict[str, str]]:
        return [{"sell": a, "buy": b, "rate": str(r)} for (a, b), r in self._rates.items()]

    def rate(self, sell: str, buy: str) -> Decimal | None:
        if sell == buy:
            return Decimal(1)
        if (sell, buy) in self._rates:
            return self._rates[(sell, buy)]
        reverse = self._rates.get((buy, sell))
        return None if reverse is None else 1 / reverse

    def _hops(self, assets: list[str]) -> list[Decimal] | None:
        hops = []
        for sell, buy in zip(assets, assets[1:], strict=False):
            r = self.rate(sell, buy)
            if r is None:
                return None
            hops.append(r)
        return hops

    def send(self, assets: list[str], amount: int) -> int | None:
        """Stroops received for ``amount`` sent along ``assets``; None if a hop has no rate."""
        hops = self._hops(assets)
        if hops is None:
            return None
        value = amount
        for r in hops:
            value = int((Decimal(value) * r).to_integral_value(ROUND_FLOOR))
        return value

    def receive(self, assets: list[str], amount: int) -> int | None:
        """Stroops that must be sent so ``amount`` arrives; None if a hop has no rate."""
        hops = self._hops(assets)
        if hops is None:
            return None
        value = amount
        for r in reversed(hops):
            value = int((Decimal(value) / r).to_integral_value(ROUND_CEILING))
        return value
