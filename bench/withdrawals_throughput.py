"""Benchmark: incoming withdrawal payments arriving live, streamed, matched and handed to the rails.

Starts a private PostgreSQL and RabbitMQ (tests/support/services.py), simnet in its own process
(bench/simnet_process.py), ``dramatiq actors`` workers and the real streamer
(``python streamer.py``), creates N withdrawals waiting in ``pending_user_transfer_start``,
then pays them from ``--payers`` accounts: one transaction per payer per ledger (its own memo,
hash / text / id in turn, as wallets pay), so ``--payers`` is the payments per ledger and
N / payers the ledgers it lasts (``--payments 12000 --payers 100`` is 100 per 1-second ledger
for 2 minutes). The envelopes are signed before the clock starts (bench/paying.py).

Reports: matched per second (first close to last match), the delay from the close of each
payment's ledger (when the bench first saw Horizon report it closed, polled every 10 ms) to
its withdrawal reaching ``pending_anchor`` (``anchor_payment.processed_at``, written right
after the guarded move commits) and to its recording, the backlog (payments in closed ledgers
not yet settled) every ``--sample`` seconds, and the CPU seconds each role spent.

    python bench/withdrawals_throughput.py --payments 12000 --payers 100
    python bench/withdrawals_throughput.py --payments 60000 --payers 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from anchor_processes import AnchorProcesses, anchor_env, cpu_seconds, postgres_pid, profile  # noqa: E402
from chain import Chain  # noqa: E402
from incoming_throughput import SECRET_KEY, plan, waiting_withdrawals  # noqa: E402
from paying import pay_rounds, rounds, sign_all  # noqa: E402
from simnet_process import SimnetProcess  # noqa: E402
from support.services import PostgresServer, RabbitServer  # noqa: E402

from anchor_dramatiq import config  # noqa: E402
from anchor_dramatiq.crypto import Secret, encrypt_seed  # noqa: E402
from anchor_dramatiq.db import open_database  # noqa: E402
from anchor_dramatiq.migrate import migrate  # noqa: E402
from anchor_dramatiq.models import Asset as AssetRow  # noqa: E402
from anchor_dramatiq.models import Cursor, Payment  # noqa: E402
from anchor_dramatiq.payments.records import ledger_of  # noqa: E402
from anchor_dramatiq.vocabulary import PaymentOutcome  # noqa: E402


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3)

    return {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": round(ordered[-1], 3),
            "mean": round(statistics.fmean(ordered), 3)}


class Backlog:
    """Every ``interval`` seconds: payments in closed ledgers (rounds done) less those settled."""

    def __init__(self, per_round: int, interval: float) -> None:
        self.per_round, self.interval = per_round, interval
        self.rounds_done = 0
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def round_done(self, k: int, ledger: int) -> None:
        self.rounds_done = k + 1

    def start(self) -> None:
        self.started = time.time()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            settled = Payment.select().where(Payment.outcome != PaymentOutcome.PENDING).count()
            paid = self.rounds_done * self.per_round
            self.samples.append((round(time.time() - self.started), max(paid - settled, 0)))

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join()
        return self.samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=12000)
    parser.add_argument("--payers", type=int, default=100, help="payments per ledger")
    parser.add_argument("--ledger-interval", type=float, default=1.0)
    parser.add_argument("--processes", type=int, default=2, help="dramatiq worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between backlog samples")
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                        help="py-spy the streamer and workers this long (stacks in the logs)")
    args = parser.parse_args()

    postgres, rabbit = PostgresServer(), RabbitServer()
    postgres.start()
    rabbit.start()
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-withdrawals-{os.getpid()}"
    logs.mkdir(exist_ok=True)
    sim = SimnetProcess(ledger_interval=args.ledger_interval, ledger_capacity=max(5000, 2 * args.payers),
                        log=logs / "simnet.log").start()
    anchor: AnchorProcesses | None = None
    try:
        chain = Chain(sim, payers=args.payers)
        work, expected = plan(chain, [], args.payments)
        sequences = {kp.secret: int(chain.server.load_account(kp.public_key).sequence) for kp in chain.payers}
        batches = rounds(sign_all(sequences, sim.passphrase, work))
        db_url = postgres.create_database()
        config.configure(config.Settings.from_env({"ANCHOR_DATABASE_URL": db_url,
                                                   "ANCHOR_SECRET_KEY": SECRET_KEY}))
        open_database(db_url)
        migrate()
        asset = AssetRow.create(code="USD", issuer=chain.issuer.public_key, significant_decimals=2,
                                distribution_seed=encrypt_seed(Secret(chain.distribution.secret),
                                                               Secret(SECRET_KEY)))
        waiting_withdrawals(asset, chain, expected)
        anchor = AnchorProcesses(anchor_env(db_url, rabbit.url, sim.url, SECRET_KEY, logs), logs)
        workers = anchor.workers(args.processes, args.threads)
        streamer = anchor.streamer()
        deadline = time.monotonic() + 60
        while Cursor.get_or_none(Cursor.account == chain.distribution.public_key) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamer did not start; see {logs}")
            anchor.check()
            time.sleep(0.1)
        time.sleep(3)  # workers connected
        roles = {"simnet": [sim.pid], "postgres": [postgres_pid(postgres)], "rabbitmq": rabbit.beam_pids(),
                 "workers": [workers.pid], "streamer": [streamer.pid]}
        cpu_before = {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in roles.items()}

        watched = (("streamer", streamer.pid), ("workers", workers.pid)) if args.profile else ()
        spies = [profile(pid, logs / f"{role}.pyspy", args.profile) for role, pid in watched]
        backlog = Backlog(args.payers, args.sample)
        backlog.start()
        started = time.time()
        closed = pay_rounds(sim.url, batches, backlog.round_done)
        paying = time.time() - started
        deadline = time.monotonic() + 600
        while Payment.select().where(Payment.outcome != PaymentOutcome.PENDING).count() < args.payments:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not every payment settled 10 minutes after the last; see {logs}")
            anchor.check()
            time.sleep(0.2)
        samples = backlog.stop()
        for spy in spies:
            spy.wait()
        cpu = {role: round(sum(cpu_seconds(pid) for pid in pids) - cpu_before[role], 1)
               for role, pids in roles.items()}
        rows = list(Payment.select(Payment.paging_token, Payment.processed_at, Payment.recorded_at,
                                   Payment.outcome, Payment.memo))
        close = [closed[ledger_of(row.paging_token)] for row in rows]
        matched = [row for row in rows if row.outcome == PaymentOutcome.MATCHED]
        delays = [row.processed_at.timestamp() - at for row, at in zip(rows, close, strict=True)
                  if row.outcome == PaymentOutcome.MATCHED]
        recorded = [row.recorded_at.timestamp() - at for row, at in zip(rows, close, strict=True)]
        wrong = sum(1 for row in rows if row.outcome != expected[row.memo])
        report = {
            "payments": args.payments, "per_ledger": args.payers, "ledger_interval_s": args.ledger_interval,
            "workers": f"{args.processes}x{args.threads}", "paying_s": round(paying, 1),
            "matched_per_s": round(len(matched) / (max(r.processed_at.timestamp() for r in matched)
                                                   - min(close)), 1),
            "close_to_pending_anchor_s": percentiles(delays),
            "close_to_recorded_s": percentiles(recorded),
            f"backlog_every_{args.sample:g}s": samples,
            "cpu_s": cpu, "wrong_outcome": wrong,
            "not_recorded_once": args.payments - len({row.memo for row in rows}),
            "load_average": os.getloadavg(),
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        print(json.dumps(report, indent=2))
        return 1 if wrong or report["not_recorded_once"] else 0
    finally:
        if anchor is not None:
            anchor.stop()
        sim.stop()
        rabbit.cleanup()
        postgres.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
