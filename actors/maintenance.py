"""Housekeeping actors."""

from __future__ import annotations

import datetime as dt

from anchor_dramatiq.db import utcnow
from anchor_dramatiq.models import JobRun
from anchor_dramatiq.periodic import periodic

JOB_RUN_RETENTION = dt.timedelta(days=2)


@periodic("schedule_maintenance")
def prune_job_runs() -> None:
    """Forget tick records older than two days; only doubled ticks within minutes matter."""
    JobRun.delete().where(JobRun.created_at < utcnow() - JOB_RUN_RETENTION).execute()
