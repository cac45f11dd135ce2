"""django-polaris 2.6.0 vs anchor-dramatiq, side by side: the same workload, one after the other.

Each system gets, per benchmark, a fresh PostgreSQL database on the same private server
(schema made by Polaris's migrations, then anchor-dramatiq's, so both run on the same tables
and indexes) and a fresh simnet with the same ledger interval and capacity. Every row is
created through Polaris's own models (``bench/polaris``); the rails are twins
(``bench/polaris/polaris_bench/rails.py`` and ``bench/polaris/anchor_rails.py``).

1. deposits: N deposits, Polaris ``process_pending_deposits`` vs ``dramatiq actors`` (channel
   accounts, batching). ``funded``: waiting in ``pending_user_transfer_start``, the rails
   report them all funded (poll, then submission); ``ready``: already ``pending_anchor`` /
   ``ready`` (submission alone; anchor-dramatiq gets the pipeline's ``pay_ready_deposits``
   nudge per channel, as ``deposit_funded()`` sends from a bank webhook). Wall time from
   process start to the last ``completed``, and deposits per ledger.
2. withdrawals: N withdrawals paid on simnet (own memo each, from ``--payers`` accounts).
   Polaris ``watch_transactions`` + ``execute_outgoing_transactions --loop`` vs ``streamer.py``
   + ``dramatiq actors``. Time from the last payment's ledger to the last ``pending_external``.
3. payouts: N withdrawals in ``pending_anchor`` and a rails payout call that takes 100 ms.
   Polaris ``execute_outgoing_transactions`` (one pass) vs the ``execute_outgoing`` actors
   (one message each, as ``process_payment`` sends them after a match).
4. sweep: one deposit poll over 100,000 pending deposits (none funded). Polaris's
   ``get_ready_deposits()`` vs anchor-dramatiq's ``poll_pending_deposits``: time, peak RSS.

    python bench/compare_polaris.py                       # all four, default sizes
    python bench/compare_polaris.py --only 1,3 --deposits 100,1000 --deposit-start ready
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POLARIS_DIR = REPO / "bench" / "polaris"
sys.path[:0] = [str(REPO / "tests"), str(POLARIS_DIR), str(REPO), str(REPO / "bench")]

import dramatiq  # noqa: E402
from chain import Chain  # noqa: E402
from dramatiq.brokers.rabbitmq import RabbitmqBroker  # noqa: E402
from harness import Polaris  # noqa: E402
from polaris_venv import ensure_venv  # noqa: E402
from simnet_process import SimnetProcess  # noqa: E402
from stellar_sdk import HashMemo, Keypair, Server, TransactionBuilder  # noqa: E402
from support.services import PostgresServer, RabbitServer  # noqa: E402

from anchor_dramatiq import config  # noqa: E402
from anchor_dramatiq.db import database, open_database  # noqa: E402
from anchor_dramatiq.migrate import migrate  # noqa: E402
from anchor_dramatiq.models import Cursor, Transaction  # noqa: E402
from anchor_dramatiq.network.factory import network_for  # noqa: E402
from anchor_dramatiq.stellar import channels  # noqa: E402

SECRET_KEY = "compare-polaris-secret-key-0123456789"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, check: Callable[[], None]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Run:
    """One system's run of one benchmark: a fresh database and a fresh simnet."""

    ctx: Context
    label: str
    sim: SimnetProcess = field(init=False)
    db_url: str = field(init=False)
    polaris: Polaris = field(init=False)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        args = self.ctx.args
        self.sim = SimnetProcess(ledger_interval=args.ledger_interval, ledger_capacity=args.ledger_capacity,
                                 log=self.ctx.logs / f"{self.label}-simnet.log").start()
        self.db_url = self.ctx.postgres.create_database()
        self.shared = {"ANCHOR_DATABASE_URL": self.db_url, "ANCHOR_SECRET_KEY": SECRET_KEY,
                       "ANCHOR_HORIZON_URL": self.sim.url, "ANCHOR_NETWORK_PASSPHRASE": self.sim.passphrase}
        self.polaris = Polaris(self.ctx.python, self.shared)
        self.polaris.migrate()
        self.settings = config.Settings.from_env({**self.shared, "ANCHOR_BATCH_SIZE": str(args.batch)})
        config.configure(self.settings)
        open_database(self.db_url)
        migrate()

    def asset(self, chain: Chain) -> int:
        made = self.polaris.bench("asset", "--code", "USD", "--issuer", chain.issuer.public_key,
                                  extra_env={"POLARIS_BENCH_DISTRIBUTION_SEED": chain.distribution.secret})
        return made["id"]

    def anchor_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANCHOR_", "BENCH_"))}
        env.update(self.shared, ANCHOR_BROKER_URL=self.ctx.rabbit.url, ANCHOR_RAILS="anchor_rails:BenchRails",
                   ANCHOR_BATCH_SIZE=str(self.ctx.args.batch), ANCHOR_LOG_LEVEL="WARNING",
                   PYTHONPATH=os.pathsep.join([str(POLARIS_DIR), str(REPO)]), PYTHONUNBUFFERED="1",
                   dramatiq_prom_db=str(self.ctx.logs / "prometheus"), **extra)
        return env

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path = REPO) -> subprocess.Popen:
        out = open(self.ctx.logs / f"{self.label}-{name}.log", "wb")
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def start_polaris(self, name: str, *command: str, **extra: str) -> subprocess.Popen:
        env = {**self.polaris.env, **extra}
        return self.start(name, [str(self.polaris.python), str(POLARIS_DIR / "manage.py"), *command], env,
                          cwd=POLARIS_DIR)

    def start_workers(self, **extra: str) -> subprocess.Popen:
        args = self.ctx.args
        argv = [str(Path(sys.executable).parent / "dramatiq"), "actors", "-p", str(args.processes),
                "-t", str(args.threads)]
        return self.start("workers", argv, self.anchor_env(**extra))

    def send(self, actor: str, queue: str = "periodic") -> None:
        broker = RabbitmqBroker(url=self.ctx.rabbit.url, confirm_delivery=True)
        try:
            broker.enqueue(dramatiq.Message(queue_name=queue, actor_name=actor, args=(), kwargs={},
                                            options={}))
        finally:
            broker.close()

    def send_each(self, actor: str, queue: str, ids: list[str]) -> None:
        broker = RabbitmqBroker(url=self.ctx.rabbit.url, confirm_delivery=True)
        try:
            for transaction_id in ids:
                broker.enqueue(dramatiq.Message(queue_name=queue, actor_name=actor, args=(transaction_id,),
                                                kwargs={}, options={}))
        finally:
            broker.close()

    def alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None and process.returncode not in (0, -signal.SIGTERM):
                raise RuntimeError(f"{process.args[:3]} exited {process.returncode}; see {self.ctx.logs}")

    def count(self, *where) -> int:
        return Transaction.select().where(*where).count()

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.sim.stop()
        database.close()
        config.configure(None)


@dataclass
class Context:
    args: argparse.Namespace
    python: Path
    postgres: PostgresServer
    rabbit: RabbitServer
    logs: Path
    results: list[dict] = field(default_factory=list)

    def run(self, label: str) -> Run:
        from support.queues import purge_queues

        purge_queues(self.rabbit.url)
        return Run(self, label)


# ------------------------------------------------------------------------------- benchmarks


def bench_deposits(ctx: Context, n: int, start: str) -> dict:
    """1. N deposits paid on Stellar, from ``funded`` (rails poll first) or ``ready``."""
    out: dict = {"benchmark": f"deposits-{start}", "n": n}
    ready = ["--ready"] if start == "ready" else []
    for system in ("polaris", "anchor"):
        run = ctx.run(f"deposits-{start}-{n}-{system}")
        try:
            chain = Chain(run.sim, wallets=min(n, ctx.args.wallets))
            asset = run.asset(chain)
            run.polaris.bench("deposits", "--asset", str(asset), "--amount", "10", "--count", str(n),
                                    *ready, *[arg for w in chain.wallets for arg in ("--to", w.public_key)],
                                    timeout=600)["ids"]
            if system == "anchor" and ctx.args.channels:
                network = network_for(run.settings)
                try:
                    channels.create(network, chain.distribution, ctx.args.channels, run.settings)
                finally:
                    network.close()
            first_ledger, started = run.sim.latest_ledger, time.monotonic()
            if system == "polaris":
                run.start_polaris("process_pending_deposits", "process_pending_deposits", "--interval", "1")
            elif start == "ready":
                run.start_workers()
                for _ in range(ctx.args.channels or 1):  # what deposit_funded() sends: the pipeline's nudge
                    run.send("pay_ready_deposits", "stellar")
            else:
                run.start_workers()
                run.send("poll_pending_deposits")
            wait_for(lambda run=run: run.count(Transaction.kind == "deposit",
                                               Transaction.status == "completed") == n,
                     ctx.args.timeout, f"{system}: {n} deposits completed", run.alive)
            wall, ledgers = time.monotonic() - started, run.sim.latest_ledger - first_ledger
            errors = run.count(Transaction.status == "error")
            paid = sum(chain.usd_balance(w.public_key) for w in chain.wallets)
            if errors or paid != Decimal(10 * n):
                raise RuntimeError(f"{system}: {errors} errors, wallets received {paid} instead of {10 * n}")
            span = paying_span()
            out[system] = {"wall_s": round(wall, 2), "ledgers": ledgers,
                           "deposits_per_ledger": round(n / max(ledgers, 1), 1), **span}
            log(f"deposits {start} n={n} {system}: {out[system]}")
        finally:
            run.close()
    out["ratio"] = round(out["polaris"]["wall_s"] / out["anchor"]["wall_s"], 1)
    return out


def paying_span() -> dict:
    """First to last completed deposit (leaving out process start-up): seconds, and ledgers from
    the paging tokens both systems store (a paging token's high 32 bits are its ledger)."""
    rows = list(Transaction.select(Transaction.completed_at, Transaction.paging_token)
                .where(Transaction.kind == "deposit", Transaction.status == "completed"))
    ledgers = [int(r.paging_token) >> 32 for r in rows]
    times = [r.completed_at for r in rows]
    span = max(ledgers) - min(ledgers) + 1
    return {"first_to_last_s": round((max(times) - min(times)).total_seconds(), 2),
            "ledgers_paying": span, "deposits_per_ledger_paying": round(len(rows) / span, 1)}


def bench_withdrawals(ctx: Context, n: int) -> dict:
    """2. N withdrawal payments arriving on Stellar, to pending_external."""
    out: dict = {"benchmark": "withdrawals", "n": n}
    for system in ("polaris", "anchor"):
        run = ctx.run(f"withdrawals-{n}-{system}")
        try:
            chain = Chain(run.sim, payers=min(n, ctx.args.payers))
            asset = run.asset(chain)
            rows = run.polaris.bench("withdrawals", "--asset", str(asset), "--amount", "10",
                                     "--count", str(n), timeout=600)["withdrawals"]
            if system == "polaris":
                run.start_polaris("watch_transactions", "watch_transactions", POLARIS_LOG_LEVEL="INFO")
                run.start_polaris("execute_outgoing", "execute_outgoing_transactions", "--loop",
                                  "--interval", "1")
                watch_log = ctx.logs / f"{run.label}-watch_transactions.log"
                wait_for(lambda f=watch_log: "starting transaction stream" in f.read_text(errors="replace"),
                         60, "watch_transactions to stream", run.alive)
            else:
                run.start("streamer", [sys.executable, str(REPO / "streamer.py")], run.anchor_env())
                run.start_workers()
                account = chain.distribution.public_key
                wait_for(lambda a=account: Cursor.get_or_none(Cursor.account == a) is not None,
                         60, "the streamer to pin its cursor", run.alive)
            time.sleep(2)  # every process connected and idle
            first_payment, last_payment = pay_all(chain, [r["memo"] for r in rows])
            wait_for(lambda run=run: run.count(Transaction.kind == "withdrawal",
                                       Transaction.status == "pending_external") == n,
                     ctx.args.timeout, f"{system}: {n} withdrawals pending_external", run.alive)
            done = time.monotonic()
            out[system] = {"paying_s": round(last_payment - first_payment, 2),
                           "last_payment_to_last_pending_external_s": round(done - last_payment, 2),
                           "first_payment_to_last_s": round(done - first_payment, 2)}
            log(f"withdrawals n={n} {system}: {out[system]}")
        finally:
            run.close()
    key = "last_payment_to_last_pending_external_s"
    out["ratio"] = round(out["polaris"][key] / max(out["anchor"][key], 0.01), 1)
    return out


def pay_all(chain: Chain, memos: list[str]) -> tuple[float, float]:
    """Pay every memo (10 USD, one transaction each) from the payers in parallel; when the first
    and the last ledger holding them closed (monotonic clock)."""
    closed: list[float] = []
    errors: list[BaseException] = []

    def pay(payer: Keypair, mine: list[str]) -> None:
        try:
            server = Server(chain.sim.url)
            account = server.load_account(payer.public_key)
            for memo in mine:
                envelope = (TransactionBuilder(account, chain.sim.passphrase, 100)
                            .append_payment_op(chain.distribution.public_key, chain.usd, "10")
                            .add_memo(HashMemo(base64.b64decode(memo))).set_timeout(120).build())
                envelope.sign(payer)
                server.submit_transaction(envelope, skip_memo_required_check=True)
                closed.append(time.monotonic())
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)

    payers = chain.payers
    threads = [threading.Thread(target=pay, args=(p, memos[i::len(payers)])) for i, p in enumerate(payers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"paying failed: {errors[0]!r}")
    return min(closed), max(closed)


def bench_payouts(ctx: Context, n: int) -> dict:
    """3. N payouts through a rails call of ``--payout-seconds``."""
    out: dict = {"benchmark": "payouts", "n": n, "payout_call_s": ctx.args.payout_seconds}
    delay = str(ctx.args.payout_seconds)
    for system in ("polaris", "anchor"):
        run = ctx.run(f"payouts-{n}-{system}")
        try:
            chain = Chain(run.sim)
            asset = run.asset(chain)
            rows = run.polaris.bench("withdrawals", "--asset", str(asset), "--amount", "10",
                                     "--count", str(n), "--paid", timeout=600)["withdrawals"]
            started = time.monotonic()
            if system == "polaris":
                run.start_polaris("execute_outgoing", "execute_outgoing_transactions",
                                  BENCH_PAYOUT_SECONDS=delay)
            else:
                run.start_workers(BENCH_PAYOUT_SECONDS=delay)
                run.send_each("execute_outgoing", "withdrawals", [r["id"] for r in rows])
            wait_for(lambda run=run: run.count(Transaction.status == "pending_external") == n,
                     ctx.args.timeout, f"{system}: {n} payouts", run.alive)
            wall = time.monotonic() - started
            out[system] = {"wall_s": round(wall, 2), "payouts_per_s": round(n / wall, 1)}
            log(f"payouts n={n} {system}: {out[system]}")
        finally:
            run.close()
    out["ratio"] = round(out["polaris"]["wall_s"] / out["anchor"]["wall_s"], 1)
    return out


def bench_sweep(ctx: Context, n: int) -> dict:
    """4. One deposit poll over N pending deposits, in the same database for both."""
    out: dict = {"benchmark": "sweep", "n": n}
    run = ctx.run(f"sweep-{n}")
    try:
        chain = Chain(run.sim)
        asset = run.asset(chain)
        run.polaris.bench("pending", "--asset", str(asset), "--count", str(n), timeout=1800)
        database.execute_sql("ANALYZE")
        measured = {
            "polaris": run.polaris.bench("sweep", timeout=1800),
            "anchor": json.loads(subprocess.run(
                [sys.executable, str(POLARIS_DIR / "anchor_sweep.py")], env=run.anchor_env(), cwd=REPO,
                capture_output=True, text=True, check=True, timeout=1800).stdout.strip().splitlines()[-1]),
        }
        for system, m in measured.items():
            if m["ready"]:
                raise RuntimeError(f"{system}: the sweep funded {m['ready']} deposits; none should be")
            out[system] = {"wall_s": round(m["seconds"], 2), "rss_peak_mib": round(m["rss_peak_kib"] / 1024),
                           "rss_growth_mib": round((m["rss_peak_kib"] - m["rss_before_kib"]) / 1024)}
            log(f"sweep n={n} {system}: {out[system]}")
    finally:
        run.close()
    out["ratio_time"] = round(out["polaris"]["wall_s"] / out["anchor"]["wall_s"], 1)
    growth = out["polaris"]["rss_growth_mib"], max(out["anchor"]["rss_growth_mib"], 1)
    out["ratio_rss_growth"] = round(growth[0] / growth[1], 1)
    return out


# ------------------------------------------------------------------------------- main


def sizes(raw: str) -> list[int]:
    return [int(x.replace("_", "")) for x in raw.split(",") if x.strip()]


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="1,2,3,4", help="benchmarks to run, e.g. 1,3")
    parser.add_argument("--deposits", type=sizes, default=sizes("100,1000"),
                        help="N for 1 (e.g. 100,1000,10000)")
    parser.add_argument("--deposit-start", default="funded", help="funded, ready or funded,ready")
    parser.add_argument("--withdrawals", type=sizes, default=sizes("100,1000"), help="N for 2")
    parser.add_argument("--payouts", type=sizes, default=sizes("100,1000"), help="N for 3")
    parser.add_argument("--sweep", type=sizes, default=sizes("100000"), help="N for 4")
    parser.add_argument("--ledger-interval", type=float, default=0.2)
    parser.add_argument("--ledger-capacity", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--wallets", type=int, default=100)
    parser.add_argument("--payers", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2, help="dramatiq worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    parser.add_argument("--payout-seconds", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one system may take per run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    chosen = set(sizes(args.only))

    signal.signal(signal.SIGTERM, _interrupted)  # clean up servers and processes on kill
    python = ensure_venv()
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"compare-polaris-{os.getpid()}"
    logs.mkdir(parents=True, exist_ok=True)
    postgres, rabbit = PostgresServer(), RabbitServer()
    postgres.start()
    rabbit.start()
    ctx = Context(args, python, postgres, rabbit, logs)
    log(f"logs in {logs}")
    try:
        starts = [s.strip() for s in args.deposit_start.split(",")]
        plan = ([(lambda c, n, s=s: bench_deposits(c, n, s), n) for s in starts for n in args.deposits
                 if 1 in chosen]
                + [(bench_payouts, n) for n in args.payouts if 3 in chosen]
                + [(bench_withdrawals, n) for n in args.withdrawals if 2 in chosen]
                + [(bench_sweep, n) for n in args.sweep if 4 in chosen])
        for bench, n in plan:
            ctx.results.append(bench(ctx, n))
            if args.json:
                args.json.write_text(json.dumps(ctx.results, indent=2))
    finally:
        rabbit.cleanup()
        postgres.cleanup()
    report = {"machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.processor() or ''}".strip(),
              "python": platform.python_version(), "settings": {k: v for k, v in vars(args).items()
                                                                 if k != "json"},
              "results": ctx.results}
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
