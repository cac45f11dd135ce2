"""Deposit throughput at ledger capacity: N funded deposits paid by the real processes.

simnet runs in its own process (``--ledger-interval`` seconds, ``--ledger-capacity``
operations per ledger); the database is a private PostgreSQL (``tests/services``) or a
SQLite file (``--sqlite``); RabbitMQ is private; ``dramatiq actors -p P -t T`` and
``periodiq scheduler`` run as in production, with ``ANCHOR_RAILS=anchor_rails:BenchRails``
(every waiting deposit funded with its ``amount_expected``). N deposits wait in
``pending_user_transfer_start``; one ``poll_pending_deposits`` message starts the run (the
rails report them all funded; the pipeline pays them on C channel accounts).

Reports wall time, deposits per ledger over the run and while paying (first to last ledger
holding a payment, from the paging tokens), the busiest ledger, channel utilisation and fee
per deposit (as ``anchor-dramatiq status`` shows them), and checks on the ledger that every
wallet received exactly the sum of its deposits, one payment operation per deposit.

    python bench/deposits_throughput.py --deposits 10000 --channels 20
    python bench/deposits_throughput.py --deposits 10000 --channels 20 --sqlite
    python bench/deposits_throughput.py --deposits 10000 --channels 20 --network-api rpc

``--network-api rpc``: the workers and ``channels ensure`` talk to simnet's Stellar RPC
(``ANCHOR_NETWORK_API=rpc``, ``ANCHOR_RPC_URL``) instead of its Horizon.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "bench" / "polaris"), str(REPO), str(REPO / "bench")]

import dramatiq  # noqa: E402
from chain import Chain  # noqa: E402
from dramatiq.brokers.rabbitmq import RabbitmqBroker  # noqa: E402
from simnet_process import SimnetProcess  # noqa: E402
from support.services import PostgresServer, RabbitServer  # noqa: E402

from anchor_dramatiq import config, observe  # noqa: E402
from anchor_dramatiq.crypto import Secret, encrypt_seed  # noqa: E402
from anchor_dramatiq.db import database, open_database, utcnow  # noqa: E402
from anchor_dramatiq.migrate import migrate  # noqa: E402
from anchor_dramatiq.models import Asset, Submission, Transaction  # noqa: E402
from anchor_dramatiq.network.factory import network_for  # noqa: E402
from anchor_dramatiq.stellar import channels  # noqa: E402

SECRET_KEY = "bench-secret-key-for-anchor-dramatiq-0123"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _processes() -> dict[int, tuple[int, float]]:
    """Every process on the machine: pid -> (parent pid, CPU seconds used so far, its own and
    that of its children that exited, such as PostgreSQL's per-connection backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / tick)
    return out


def cpu_by_role(before: dict, after: dict, roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds each role used between two snapshots, a role being its root processes and
    all their descendants; everything else on the machine is ``other``."""
    role_of: dict[int, str] = {pid: role for role, pids in roots.items() for pid in pids}

    def role(pid: int) -> str:
        seen = set()
        while pid in after and pid not in role_of and pid not in seen:
            seen.add(pid)
            pid = after[pid][0]
        return role_of.get(pid, "other")

    used: dict[str, float] = defaultdict(float)
    for pid, (_, cpu) in after.items():
        used[role(pid)] += cpu - (before[pid][1] if pid in before else 0.0)
    return {name: round(seconds, 1) for name, seconds in sorted(used.items())}


def profile(pids: dict[str, int], seconds: float, directory: Path) -> list[subprocess.Popen]:
    """``py-spy record`` (collapsed stacks) of each named process for ``seconds``."""
    return [subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)),
                              "--rate", "50", "--format", "raw", "--nonblocking", "--output",
                              str(directory / f"{name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, pid in pids.items()]


def children(pid: int) -> list[int]:
    return [child for child, (parent, _) in _processes().items() if parent == pid]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deposits", type=int, default=10_000)
    parser.add_argument("--wallets", type=int, default=200)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--ledger-interval", type=float, default=1.0)
    parser.add_argument("--ledger-capacity", type=int, default=1000)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--network-api", choices=("horizon", "rpc"), default="horizon",
                        help="the Stellar API the anchor uses (ANCHOR_NETWORK_API)")
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--profile", type=float, default=0,
                        help="py-spy the workers and simnet this many seconds (into the workdir)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-deposits-"))
    rabbit = RabbitServer()
    postgres = None if args.sqlite else PostgresServer()
    processes: list[subprocess.Popen] = []
    sim = SimnetProcess(ledger_interval=args.ledger_interval, ledger_capacity=args.ledger_capacity,
                        log=workdir / "simnet.log")
    try:
        rabbit.start()
        if postgres:
            postgres.start()
            db_url = postgres.create_database()
        else:
            db_url = f"sqlite:///{workdir}/bench.sqlite3"
        sim.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANCHOR_", "BENCH_"))}
        env.update(ANCHOR_DATABASE_URL=db_url, ANCHOR_SECRET_KEY=SECRET_KEY, ANCHOR_HORIZON_URL=sim.url,
                   ANCHOR_NETWORK_PASSPHRASE=sim.passphrase, ANCHOR_BROKER_URL=rabbit.url,
                   ANCHOR_NETWORK_API=args.network_api, ANCHOR_RPC_URL=f"{sim.url}/rpc",
                   ANCHOR_RAILS="anchor_rails:BenchRails", ANCHOR_BATCH_SIZE=str(args.batch),
                   ANCHOR_CHANNEL_COUNT=str(args.channels), ANCHOR_LOG_LEVEL="WARNING",
                   PYTHONPATH=os.pathsep.join([str(REPO / "bench" / "polaris"), str(REPO)]),
                   PYTHONUNBUFFERED="1", dramatiq_prom_db=str(workdir / "prometheus"))
        settings = config.Settings.from_env(env)
        config.configure(settings)
        open_database(db_url)
        migrate()

        log(f"setting up {args.wallets} wallets, {args.channels} channels, {args.deposits} deposits")
        chain = Chain(sim, wallets=args.wallets)
        seed = encrypt_seed(Secret(chain.distribution.secret), settings.key())
        asset = Asset.create(code="USD", issuer=chain.issuer.public_key, significant_decimals=2,
                             distribution_seed=seed)
        network = network_for(settings)
        try:
            channels.ensure(network, chain.distribution, args.channels, settings)
        finally:
            network.close()
        expected: dict[str, Decimal] = defaultdict(Decimal)
        count: Counter[str] = Counter()
        rows = []
        for i in range(args.deposits):
            wallet = chain.wallets[i % len(chain.wallets)].public_key
            amount = Decimal(1 + i % 7)
            expected[wallet] += amount
            count[wallet] += 1
            rows.append(dict(id=uuid.uuid4(), stellar_account=wallet, to_address=wallet, kind="deposit",
                             protocol="sep24", status="pending_user_transfer_start", asset=asset,
                             amount_expected=amount, started_at=utcnow()))
        with database.atomic():
            for start in range(0, len(rows), 500):
                Transaction.insert_many(rows[start:start + 500]).execute()

        for name, argv in (("workers", [str(Path(sys.executable).parent / "dramatiq"), "actors",
                                        "-p", str(args.processes), "-t", str(args.threads)]),
                           ("scheduler", [str(Path(sys.executable).parent / "periodiq"), "scheduler"])):
            out = open(workdir / f"{name}.log", "wb")
            processes.append(subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        time.sleep(3)  # the workers are up and consuming
        load_before = os.getloadavg()
        roots = {"simnet": [sim.pid or 0], "workers": [processes[0].pid], "scheduler": [processes[1].pid],
                 "rabbitmq": rabbit.beam_pids(), "bench": [os.getpid()]}
        if postgres:
            roots["postgresql"] = [int((postgres.data / "postmaster.pid").read_text().split()[0])]
        if args.profile:
            workers = {f"worker-{i}": pid for i, pid in enumerate(children(processes[0].pid))}
            profile({**workers, "simnet": sim.pid or 0}, args.profile, workdir)
        cpu_before = _processes()
        first_ledger, started, started_at_wall = sim.latest_ledger, time.monotonic(), time.time()
        broker = RabbitmqBroker(url=rabbit.url, confirm_delivery=True)
        broker.enqueue(dramatiq.Message(queue_name="periodic", actor_name="poll_pending_deposits", args=(),
                                        kwargs={}, options={}))
        broker.close()
        completed = 0
        while completed < args.deposits:
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"not finished in {args.timeout:.0f}s: {completed} completed; see {workdir}")
            for process in processes:
                if process.poll() is not None:
                    raise SystemExit(f"{process.args[:2]} exited {process.returncode}; see {workdir}")
            time.sleep(0.5)
            completed = Transaction.select().where(Transaction.status == "completed").count()
        wall = time.monotonic() - started
        ledgers = sim.latest_ledger - first_ledger
        load_after = os.getloadavg()
        cpu = cpu_by_role(cpu_before, _processes(), roots)

        paid_ledgers = Counter(int(t.paging_token) >> 32 for t in Transaction.select(Transaction.paging_token)
                               .where(Transaction.status == "completed"))
        span = max(paid_ledgers) - min(paid_ledgers) + 1
        pipeline = observe.deposit_pipeline(limit=100_000)
        landed = list(Submission.select(Submission.ledger, Submission.attempts)
                      .where((Submission.purpose == "deposit") & (Submission.state == "succeeded")))
        per_ledger = Counter(s.ledger for s in landed)
        # Each envelope's stored, last POSTed and settled times (seconds since the start), for
        # reading where a channel waited: timeline.json in the workdir.
        zero = started_at_wall
        (workdir / "timeline.json").write_text(json.dumps([
            [s.channel[:6], s.ledger, s.attempts, *(round(t.timestamp() - zero, 2) if t else None
                                                    for t in (s.created_at, s.submitted_at, s.settled_at))]
            for s in Submission.select().where(Submission.purpose == "deposit").order_by(Submission.id)]))
        wrong = [w for w, amount in expected.items() if sim.balance(w, chain.usd) != amount]
        usd = f"USD:{chain.issuer.public_key}"
        payments = {w: [p for p in sim.payments(w) if p["to"] == w and p["successful"] and p["asset"] == usd]
                    for w in expected}
        twice = [w for w in expected if len(payments[w]) != count[w]]
        errors = Transaction.select().where(Transaction.status == "error").count()
        result = {
            "database": "sqlite" if args.sqlite else "postgresql", "network_api": args.network_api,
            "deposits": args.deposits, "wallets": args.wallets, "channels": args.channels,
            "batch": args.batch,
            "workers": f"{args.processes}x{args.threads}", "ledger_interval_s": args.ledger_interval,
            "ledger_capacity_ops": args.ledger_capacity,
            "wall_s": round(wall, 1), "ledgers": ledgers,
            "deposits_per_ledger": round(args.deposits / ledgers, 1),
            "ledgers_paying": span, "deposits_per_ledger_paying": round(args.deposits / span, 1),
            "busiest_ledger": max(paid_ledgers.values()),
            "share_of_capacity_paying": round(args.deposits / span / args.ledger_capacity, 3),
            "envelopes": pipeline["envelopes"],
            "envelopes_per_ledger": [per_ledger.get(n, 0)
                                     for n in range(min(per_ledger), max(per_ledger) + 1)],
            "posts_per_envelope": dict(sorted(Counter(s.attempts for s in landed).items())),
            "channel_utilisation": round(pipeline["utilisation"] or 0, 3),
            "fee_stroops_per_deposit": pipeline["fee_stroops_per_deposit"],
            "wrong_balances": len(wrong), "wallets_paid_other_than_once_per_deposit": len(twice),
            "errors": errors, "cpu_seconds": cpu, "workdir": str(workdir),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after], "nproc": os.cpu_count(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
        print(json.dumps(result, indent=2))
        if wrong or twice or errors:
            log("MISMATCH: some wallet did not receive exactly its deposits, once each")
            return 1
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        sim.stop()
        database.close()
        rabbit.cleanup()
        if postgres:
            postgres.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
