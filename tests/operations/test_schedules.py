"""periodiq and the workers as real processes: every periodic actor runs on schedule, a
sub-minute schedule fans out, and a restarted or second scheduler causes no double work."""

from __future__ import annotations

import datetime as dt
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.processes import scheduler_argv, workers_argv
from support.queues import purge_queues
from support.services import free_port
from support.waiting import wait_until

from anchor_dramatiq.config import VARIABLES
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.models import JobRun
from anchor_dramatiq.periodic import SWEEPS


def processed(port: int) -> dict[str, float]:
    """Messages processed per actor, from the workers' metrics endpoint (Dramatiq's counters)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "dramatiq_messages_total":
                actor = sample.labels["actor_name"]
                counts[actor] = counts.get(actor, 0) + sample.value
    return counts


def serving(port: int) -> bool:
    try:
        processed(port)
    except OSError:
        return False
    return True


def ticks() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for run in JobRun.select().order_by(JobRun.tick):
        rows.setdefault(run.actor, []).append(run.tick)
    return rows


def minute(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def sleep_until_second(second: float) -> None:
    """Sleep to ``second`` past the next minute unless we are before it in this one."""
    now = time.time() % 60
    time.sleep((second - now) % 60)


@pytest.mark.long(seconds=110)  # waits for minutes to turn
def test_periodic_actors_run_on_schedule_without_double_work(start, process_env, broker_url) -> None:
    port = free_port()
    env = dict(process_env)
    for var in VARIABLES:
        if var.field.startswith("schedule_"):
            env[var.env] = "60s"
    env["ANCHOR_SCHEDULE_MAINTENANCE"] = "10s"  # prune_job_runs: a sub-minute sweep
    purge_queues(broker_url)
    tick_actors = {tick for _, tick in SWEEPS.values()}

    workers = start(workers_argv(processes=1, threads=4), {**env, "ANCHOR_METRICS_PORT": str(port)},
                    "workers")
    workers.wait_for_log("Worker process is ready for action.")
    wait_until(lambda: serving(port), 20, "the workers' metrics endpoint")

    if time.time() % 60 > 2:
        sleep_until_second(0.2)
    first = start(scheduler_argv(), env, "scheduler")
    this_minute = minute(utcnow())
    wait_until(lambda: ticks().get("prune_job_runs_tick"), 20, "the first tick claimed")
    wait_until(lambda: processed(port).get("prune_job_runs", 0) >= 1, 10, "the first sweep")
    old = JobRun.create(actor="old_tick", tick="2000-01-01T00:00Z",
                        created_at=utcnow() - dt.timedelta(days=3))

    # Restart the scheduler inside the minute, and run a second one: both send this minute's
    # ticks again; the ticks are claimed once, so the sweeps are not fanned out again.
    assert first.terminate(timeout=20) == 0, first.log()
    restarted = start(scheduler_argv(), env, "scheduler")
    second = start(scheduler_argv(), env, "scheduler")
    wait_until(lambda: processed(port).get("prune_job_runs_tick", 0) == 3, 20,
               "the doubled ticks processed")
    assert "already ran; skipping the doubled tick" in workers.log()

    # 10 s later the second sweep of the minute has pruned the old row.
    wait_until(lambda: processed(port).get("prune_job_runs", 0) >= 2, 15, "the sweep at +10 s")
    assert JobRun.get_or_none(JobRun.id == old.id) is None

    sleep_until_second(55)
    counts = processed(port)
    assert counts["prune_job_runs_tick"] == 3
    assert counts["prune_job_runs"] == 6, counts  # 0, 10, ..., 50 s: once, not three times
    claimed = ticks()
    assert {actor: runs for actor, runs in claimed.items() if actor in tick_actors} == \
        {actor: [this_minute] for actor in tick_actors}
    for sweep in SWEEPS:
        assert counts.get(sweep, 0) >= 1, (sweep, counts)

    # At the next minute both schedulers send every tick; each is claimed once.
    next_minute = minute(utcnow() + dt.timedelta(seconds=10))
    wait_until(lambda: all(len(ticks().get(t, [])) == 2 for t in tick_actors), 20,
               "every tick claimed at the minute")
    assert {actor: runs for actor, runs in ticks().items() if actor in tick_actors} == \
        {actor: [this_minute, next_minute] for actor in tick_actors}
    wait_until(lambda: processed(port).get("prune_job_runs_tick", 0) == 5, 10, "both schedulers' ticks")
    assert processed(port)["prune_job_runs"] == 7  # the new minute's first sweep, once

    for scheduler in (restarted, second):
        assert scheduler.terminate(timeout=20) == 0, scheduler.log()
    assert workers.terminate(timeout=60) == 0, workers.log()[-3000:]
