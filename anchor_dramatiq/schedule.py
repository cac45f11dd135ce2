"""How often a periodic actor runs: an interval such as ``10s`` or a 5-field cron.

periodiq ticks once a minute at most, so an interval under a minute becomes a
minute cron whose tick fans out into delayed messages (``offsets``): ``10s`` is
one tick at :00 that also schedules runs at +10 s, +20 s, ... +50 s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import periodiq

from anchor_dramatiq.errors import ScheduleError

_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_FIELD_RE = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_ALIASES = {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}


@dataclass(frozen=True)
class Schedule:
    """A periodiq cron plus the second offsets each tick fans out to."""

    cron: str
    offsets: tuple[int, ...] = (0,)
    text: str = ""

    @classmethod
    def parse(cls, raw: str) -> Schedule:
        raw = raw.strip()
        if raw.endswith("s") and raw[:-1].isdigit():
            return cls._interval(int(raw[:-1]), raw)
        _check_cron(raw)
        return cls(cron=raw, text=raw)

    @classmethod
    def _interval(cls, seconds: int, raw: str) -> Schedule:
        if 1 <= seconds < 60 and 60 % seconds == 0:
            return cls(cron="* * * * *", offsets=tuple(range(0, 60, seconds)), text=raw)
        if seconds >= 60 and seconds % 60 == 0 and 60 % (seconds // 60) == 0:
            minutes = seconds // 60
            cron = "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
            return cls(cron=cron, text=raw)
        raise ScheduleError(
            "an interval that divides a minute or an hour evenly (e.g. 5s, 10s, 30s, 60s, 300s)"
            " or a 5-field cron such as '*/5 * * * *'"
        )

    def __str__(self) -> str:
        return self.text or self.cron


def _check_cron(spec: str) -> None:
    message = "an interval such as 10s or a 5-field cron such as '*/5 * * * *'"
    if spec in _ALIASES:
        return
    parts = spec.lower().split()
    if len(parts) != 5:
        raise ScheduleError(message)
    for number, day in enumerate(_DAY_NAMES):
        parts[4] = parts[4].replace(day, str(number))
    for part, (low, high) in zip(parts, _FIELD_RANGES, strict=True):
        if not _FIELD_RE.match(part):
            raise ScheduleError(message)
        for number in re.findall(r"\d+", part.split("/")[0]):
            if not low <= int(number) <= high:
                raise ScheduleError(message)
    try:
        periodiq.cron(spec)
    except (IndexError, ValueError):
        raise ScheduleError(message) from None
