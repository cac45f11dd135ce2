import pytest

from anchor_dramatiq.schedule import Schedule, ScheduleError


@pytest.mark.parametrize("raw,cron,offsets", [
    ("10s", "* * * * *", (0, 10, 20, 30, 40, 50)),
    ("30s", "* * * * *", (0, 30)),
    ("60s", "* * * * *", (0,)),
    ("300s", "*/5 * * * *", (0,)),
    ("*/5 * * * *", "*/5 * * * *", (0,)),
    ("0 3 * * 1", "0 3 * * 1", (0,)),
    ("30 2 * * mon-fri", "30 2 * * mon-fri", (0,)),
    ("@hourly", "@hourly", (0,)),
])
def test_valid(raw, cron, offsets):
    schedule = Schedule.parse(raw)
    assert schedule.cron == cron
    assert schedule.offsets == offsets


@pytest.mark.parametrize("raw", ["7s", "0s", "90s", "7200s", "* * *", "61 * * * *", "a b c d e", ""])
def test_invalid(raw):
    with pytest.raises(ScheduleError):
        Schedule.parse(raw)
