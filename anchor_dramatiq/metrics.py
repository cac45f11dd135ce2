"""Prometheus metrics: the project's own, read from the database at scrape time, plus Dramatiq's.

:class:`AnchorCollector` reads the tables when scraped (through :mod:`anchor_dramatiq.observe`),
so the workers, the scheduler and the streamer all report the same numbers whichever one
Prometheus asks. Each process serves on ``ANCHOR_METRICS_HOST:ANCHOR_METRICS_PORT``:

- ``dramatiq actors``: :class:`WorkerMetrics`, Dramatiq's Prometheus middleware whose
  exposition process (one per ``dramatiq`` master, forked by it) serves Dramatiq's
  per-actor counters from every worker process *and* the project's collector;
- ``periodiq scheduler`` and ``python streamer.py``: :func:`start_metrics_server`.

prometheus_client is imported lazily: Dramatiq's middleware must set
``PROMETHEUS_MULTIPROC_DIR`` before the library is first imported in a worker process.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from dramatiq.middleware import Middleware

from anchor_dramatiq import observe
from anchor_dramatiq.config import Settings, get_settings
from anchor_dramatiq.db import database, open_database

log = logging.getLogger(__name__)


class AnchorCollector:
    """The project's metrics, computed from the database on every scrape."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        opened = database.is_closed()
        if opened:
            database.connect()
        try:
            families = list(self._families(GaugeMetricFamily))
            up = 1
        except Exception:  # a scrape must answer even when the database does not
            log.warning("metrics: reading the database failed", exc_info=True)
            families, up = [], 0
        finally:
            if opened and not database.is_closed():
                database.close()
        yield from families
        yield GaugeMetricFamily("anchor_metrics_database_up",
                                "1 when the last scrape could read the database", value=up)

    @staticmethod
    def _families(gauge: type) -> Iterator[Any]:
        family = gauge("anchor_transactions", "Transactions by kind and status",
                       labels=["kind", "status"])
        for kind, statuses in observe.transaction_counts().items():
            for status, count in statuses.items():
                family.add_metric([kind, status], count)
        yield family

        family = gauge("anchor_transaction_oldest_age_seconds",
                       "Seconds since the oldest transaction in each non-final status started",
                       labels=["kind", "status"])
        for kind, ages in observe.oldest_open_transactions().items():
            for status, age in ages.items():
                family.add_metric([kind, status], age)
        yield family

        family = gauge("anchor_submissions", "Stellar transactions stored, by state "
                       "(built, submitted, succeeded, failed, expired)", labels=["state"])
        for state, count in observe.submission_counts().items():
            family.add_metric([state], count)
        yield family

        family = gauge("anchor_submission_oldest_age_seconds",
                       "Seconds since the oldest built or submitted envelope was stored",
                       labels=["state"])
        for state, oldest in observe.oldest_live_submissions().items():
            family.add_metric([state], oldest)
        yield family

        latency = observe.submission_latency()
        family = gauge("anchor_submission_latency_seconds",
                       "Stored-to-settled seconds of submissions settled in the last hour",
                       labels=["quantile"])
        for quantile, seconds in latency["quantiles"].items():
            family.add_metric([quantile], seconds)
        yield family
        yield gauge("anchor_submission_settled_last_hour",
                    "Submissions settled (succeeded or failed) in the last hour", value=latency["count"])

        family = gauge("anchor_payments", "Incoming payments recorded, by outcome "
                       "(pending, matched, unmatched, late, ambiguous, rejected, overpaid, underpaid, "
                       "internal)", labels=["outcome"])
        for outcome, count in observe.payment_counts().items():
            family.add_metric([outcome], count)
        yield family

        waiting = observe.inbox()
        families = (gauge("anchor_payments_waiting", "Payments waiting for a person (no refund paid), "
                          "by outcome and asset", labels=["outcome", "asset"]),
                    gauge("anchor_payments_waiting_value", "Value of the payments waiting for a person, "
                          "by outcome and asset", labels=["outcome", "asset"]),
                    gauge("anchor_payments_waiting_oldest_age_seconds", "Seconds since the oldest payment "
                          "waiting for a person was recorded", labels=["outcome", "asset"]))
        for row in waiting:
            labels = [row["outcome"], row["asset"]]
            families[0].add_metric(labels, row["count"])
            families[1].add_metric(labels, float(row["value"]))
            families[2].add_metric(labels, row["oldest_age_seconds"])
        yield from families

        yield gauge("anchor_payouts_held",
                    "Payouts whose rails call started with an unknown outcome, held for a person "
                    "(anchor-dramatiq payouts list)", value=observe.held_payout_count())

        oldest = observe.oldest_pending_payment()
        if oldest is not None:
            yield gauge("anchor_payment_oldest_pending_age_seconds",
                        "Seconds since the oldest unprocessed incoming payment was recorded", value=oldest)

        cursor_ledger = gauge("anchor_stream_cursor_ledger",
                              "Ledger of the last payment recorded per watched account", labels=["account"])
        event_age = gauge("anchor_stream_last_event_age_seconds",
                          "Seconds since the streamer last recorded a payment per watched account",
                          labels=["account"])
        from anchor_dramatiq.streaming.cursor import stream_status

        for stream in stream_status():
            if stream["last_ledger"] is not None:
                cursor_ledger.add_metric([stream["account"]], stream["last_ledger"])
            if stream["last_event_age_seconds"] is not None:
                event_age.add_metric([stream["account"]], stream["last_event_age_seconds"])
        yield cursor_ledger
        yield event_age

        seeds = observe.asset_seeds(get_settings().secret_key)
        if seeds is not None:
            family = gauge("anchor_asset_seed_invalid",
                           "1 when an asset's distribution seed does not decrypt or parse (the asset "
                           "is neither streamed nor paid from), 0 when it is usable", labels=["asset"])
            for asset_key, reason in seeds.items():
                family.add_metric([asset_key], 0 if reason is None else 1)
            yield family

        family = gauge("anchor_periodic_last_tick_age_seconds",
                       "Seconds since each periodic tick was last claimed (the scheduler is alive)",
                       labels=["actor"])
        for actor, since in observe.last_ticks().items():
            family.add_metric([actor], since)
        yield family


BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)


class StreamMeter:
    """The streamer's own figures, kept in its process (the database cannot say them):
    payments recorded, records read per database transaction, and how far behind the
    network each account's recording is."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.recorded_total = Counter(
            "anchor_stream_payments_recorded", "Incoming payments the streamer recorded "
            "(rate() of it: payments recorded per second)", ["account"], registry=None)
        self.batch_records = Histogram(
            "anchor_stream_batch_records", "Records read (payments or not) written in one "
            "database transaction with their cursor", buckets=BATCH_SIZE_BUCKETS, registry=None)
        self.batch_seconds = Histogram(
            "anchor_stream_batch_seconds", "Seconds one batch's database transaction took",
            registry=None)
        self.lag_ledgers = Gauge(
            "anchor_stream_lag_ledgers", "Newest ledger the streamer has seen the network close, "
            "less the ledger of the last record it recorded, per account", ["account"], registry=None)
        self.lag_seconds = Gauge(
            "anchor_stream_lag_seconds", "Seconds from the close of the last recorded record's "
            "ledger to its recording, per account", ["account"], registry=None)

        self.gap_ledgers = Gauge(
            "anchor_stream_gap_ledgers", "Ledgers after an account's cursor that its RPC node no "
            "longer keeps and that are not recorded yet (0: none), per account", ["account"],
            registry=None)
        self.ignored_events = Counter(
            "anchor_stream_events_ignored", "RPC events to an account not recorded as payments: "
            "not emitted by the asset's own contract (never credited), or not a payment (a "
            "merge, a trade), per account", ["account"], registry=None)
        self.held = Gauge(
            "anchor_stream_held", "1 while an account's stream is stopped on such a gap it cannot "
            "fill (no Horizon with that history answered), per account", ["account"], registry=None)

    def collectors(self) -> list[Any]:
        return [self.recorded_total, self.batch_records, self.batch_seconds, self.lag_ledgers,
                self.lag_seconds, self.gap_ledgers, self.ignored_events, self.held]

    def recorded(self, account: str, records: int, inserted: int, seconds: float,
                 lag_ledgers: int | None, lag_seconds: float | None) -> None:
        """One batch committed: ``records`` read, ``inserted`` new payment rows."""
        self.recorded_total.labels(account).inc(inserted)
        self.batch_records.observe(records)
        self.batch_seconds.observe(seconds)
        if lag_ledgers is not None:
            self.lag_ledgers.labels(account).set(lag_ledgers)
        if lag_seconds is not None:
            self.lag_seconds.labels(account).set(lag_seconds)

    def ignored(self, account: str, events: int) -> None:
        self.ignored_events.labels(account).inc(events)

    def gap(self, account: str, ledgers: int, held: bool) -> None:
        """``account``'s stream found ``ledgers`` it cannot read over RPC (0: none any more)."""
        self.gap_ledgers.labels(account).set(ledgers)
        self.held.labels(account).set(1 if held else 0)


def registry(*, multiprocess_dir: str | None = None, extra: list[Any] | None = None) -> Any:
    """A registry with the project's collector (and Dramatiq's per-process files, for workers;
    ``extra``: a process's own collectors, e.g. :meth:`StreamMeter.collectors`)."""
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry(auto_describe=False)
    if multiprocess_dir:
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(reg, path=multiprocess_dir)
    reg.register(AnchorCollector())
    for collector in extra or []:
        reg.register(collector)
    return reg


def start_metrics_server(settings: Settings, *, multiprocess_dir: str | None = None,
                         extra: list[Any] | None = None) -> Any | None:
    """Serve metrics in a background thread when ``ANCHOR_METRICS_PORT`` is set; the server or None.

    A port that cannot be bound is logged, not fatal: moving money matters more than metrics.
    """
    if not settings.metrics_port:
        return None
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(settings.metrics_port, addr=settings.metrics_host,
                                            registry=registry(multiprocess_dir=multiprocess_dir,
                                                                  extra=extra))
    except OSError as exc:  # e.g. the port is taken: the process still does its work
        log.error("metrics: cannot listen on %s:%d (%s); running without metrics",
                  settings.metrics_host, settings.metrics_port, exc)
        return None
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    return server


def serve_worker_metrics() -> int:
    """The exposition process Dramatiq forks for :class:`WorkerMetrics`: serve until SIGTERM."""
    from dramatiq.middleware.prometheus import DB_PATH

    settings = get_settings()
    open_database(settings.database_url)
    start_metrics_server(settings, multiprocess_dir=DB_PATH)
    threading.Event().wait()
    return 0


def _prometheus_base() -> type:
    from dramatiq.middleware.prometheus import DB_PATH, Prometheus

    # Before prometheus_client is first imported in this process (see the module docstring).
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", DB_PATH)
    return Prometheus


def worker_metrics() -> Middleware:
    """Dramatiq's Prometheus middleware, exposed by :func:`serve_worker_metrics` instead of its own
    server (which would listen on 0.0.0.0:9191 and serve only Dramatiq's counters)."""
    base = _prometheus_base()

    class WorkerMetrics(base):  # type: ignore[misc, valid-type]
        @property
        def forks(self) -> list:
            return [serve_worker_metrics]

        def after_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
            # Processes that only send (scheduler, streamer) never boot the middleware.
            if hasattr(self, "total_retried_messages"):
                super().after_enqueue(broker, message, delay)

    return WorkerMetrics()
