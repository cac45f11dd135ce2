"""Deposit test fixtures: the anchor on simnet (support.anchor) and a worker runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dramatiq
import pytest
from dramatiq import Worker
from support.anchor import anchor, sim  # noqa: F401 - fixtures of this folder
from support.waiting import wait_until


@pytest.fixture
def run_workers(broker: dramatiq.Broker) -> Iterator[Callable[..., None]]:
    """Run the actors on the in-process broker until ``done()`` holds (or time runs out)."""
    workers: list[Worker] = []

    def run(done: Callable[[], bool], timeout: float = 30.0, threads: int = 4) -> None:
        worker = Worker(broker, worker_timeout=50, worker_threads=threads)
        workers.append(worker)
        worker.start()
        wait_until(done, timeout, "the actors to finish")

    yield run
    for worker in workers:
        worker.stop()
    broker.flush_all()
