"""Periodic actors: a periodiq tick per schedule, fanned out to sub-minute sweeps.

``@periodic("schedule_poll_pending_deposits")`` turns a function into two actors:

- the *sweep* (named after the function): does the work; no retries, since the next
  tick is the retry (a failure is logged, not dead-lettered); safe to run twice or
  concurrently because flows claim rows;
- the *tick* (``<name>_tick``): the one periodiq schedules from the configured cron. It
  records ``(tick actor, scheduled_at)`` in ``anchor_job_run`` first, so a periodiq
  restart inside the minute or a second scheduler does not fan out twice, then sends the
  sweep at each offset of the schedule (``10s`` = offsets 0, 10, ..., 50 s).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable

import dramatiq
from dramatiq.middleware import CurrentMessage
from peewee import IntegrityError
from periodiq import cron

from anchor_dramatiq.config import get_settings
from anchor_dramatiq.models import JobRun
from anchor_dramatiq.queues import Queue

log = logging.getLogger(__name__)

SWEEP_TIME_LIMIT_MS = 120_000

#: Every sweep actor by name, with its tick: used by the embedded scheduler and status.
SWEEPS: dict[str, tuple[dramatiq.Actor, str]] = {}


def tick_minute(scheduled_at: str) -> str:
    """The UTC minute a tick belongs to.

    periodiq stamps ``scheduled_at`` with the second it sent the tick, in the scheduler
    host's time zone: a scheduler restarted inside the minute, or a second scheduler, sends
    the same minute's tick with a different string, so ticks are keyed by minute.
    """
    moment = dt.datetime.fromisoformat(scheduled_at).astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def claim_tick(actor_name: str, tick: str) -> bool:
    """True the first time ``(actor_name, tick)`` is seen, False for a doubled tick."""
    try:
        JobRun.create(actor=actor_name, tick=tick)
    except IntegrityError:
        return False
    return True


def fan_out(sweep: dramatiq.Actor, offsets: tuple[int, ...]) -> None:
    for offset in offsets:
        if offset:
            sweep.send_with_options(delay=offset * 1000)
        else:
            sweep.send()


def periodic(schedule_field: str, *, queue_name: str = Queue.PERIODIC,
             time_limit: int = SWEEP_TIME_LIMIT_MS) -> Callable[[Callable[[], None]], dramatiq.Actor]:
    """Declare a sweep actor scheduled by the ``ANCHOR_<SCHEDULE_FIELD>`` setting."""

    def decorator(fn: Callable[[], None]) -> dramatiq.Actor:
        schedule = getattr(get_settings(), schedule_field)

        @functools.wraps(fn)
        def run_sweep() -> None:
            # A failed sweep (say, the database restarting) is logged, not dead-lettered: the
            # next tick is its retry, and dead letters stay for messages a person must see.
            try:
                fn()
            except Exception:
                log.exception("%s failed; the next tick runs it again", fn.__name__)

        sweep = dramatiq.actor(actor_name=fn.__name__, queue_name=queue_name,
                               max_retries=0, time_limit=time_limit)(run_sweep)
        tick_name = f"{fn.__name__}_tick"

        def tick() -> None:
            message = CurrentMessage.get_current_message()
            scheduled_at = message.options.get("scheduled_at") if message else None
            if scheduled_at and not claim_tick(tick_name, tick_minute(scheduled_at)):
                log.info("%s for %s already ran; skipping the doubled tick", tick_name, scheduled_at)
                return
            fan_out(sweep, schedule.offsets)

        tick.__doc__ = f"periodiq tick for {fn.__name__} ({schedule})"
        dramatiq.actor(actor_name=tick_name, queue_name=queue_name, max_retries=0,
                       periodic=cron(schedule.cron))(tick)
        SWEEPS[fn.__name__] = (sweep, tick_name)
        return sweep

    return decorator
