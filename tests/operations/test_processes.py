"""The deployed processes boot on RabbitMQ and PostgreSQL and stop cleanly on SIGTERM."""

from __future__ import annotations

from support.processes import scheduler_argv, workers_argv


def test_workers_and_scheduler_boot_and_exit_0_on_sigterm(start, process_env) -> None:
    workers = start(workers_argv(processes=2, threads=2), process_env, "workers")
    scheduler = start(scheduler_argv(), process_env, "scheduler")
    workers.wait_for_log("Worker process is ready for action.")
    scheduler.wait_for_log("Registered periodic actors:")
    scheduler.wait_for_log("prune_job_runs_tick")

    assert scheduler.terminate(timeout=20) == 0, scheduler.log()[-3000:]
    assert workers.terminate(timeout=40) == 0, workers.log()[-3000:]
    assert "Traceback" not in workers.log() + scheduler.log()
    assert "Worker process is ready for action." in workers.log()
