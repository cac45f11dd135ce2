"""The embedded scheduler sends the same ticks periodiq would; sweeps run on worker threads."""

import datetime as dt
import time

import pytest

from anchor_dramatiq.embedded import EmbeddedWorkers
from anchor_dramatiq.models import JobRun


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_ticks_run_sweeps_once_per_tick(db):
    import actors

    stale = JobRun.create(actor="old_tick", tick="2020-01-01T00:00:00+00:00",
                          created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    runtime = EmbeddedWorkers(actors.broker, threads=2)
    runtime.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and JobRun.get_or_none(JobRun.id == stale.id):
            time.sleep(0.1)
    finally:
        runtime.stop()
    assert JobRun.get_or_none(JobRun.id == stale.id) is None, "prune_job_runs did not run"
    ticks = list(JobRun.select().where(JobRun.actor == "prune_job_runs_tick"))
    assert len(ticks) == 1

    # The same tick delivered again (a periodiq restart inside the minute) fans out nothing.
    from anchor_dramatiq.periodic import claim_tick

    assert claim_tick("prune_job_runs_tick", ticks[0].tick) is False
