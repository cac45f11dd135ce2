"""Capped exponential backoff with jitter, so many streams never reconnect in lock-step."""

from __future__ import annotations

import random


class Backoff:
    """``base * 2**n`` capped at ``cap``, drawn uniformly from its upper half; ``reset`` after success."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(self.failures, 32))
        self.failures += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0
