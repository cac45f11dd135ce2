"""Benchmark: N incoming withdrawal payments, streamed, matched and handed to the rails.

Starts a private PostgreSQL and RabbitMQ (tests/support/services.py), simnet in this process, the
real streamer (``python streamer.py``) and workers (``dramatiq actors``), creates N
withdrawals waiting in ``pending_user_transfer_start``, then pays them from ``--payers``
accounts (one transaction each per ledger, each with its own memo, as wallets do).

Reports: payments per second (first ledger close to last match) and the delay from the
ledger close of each payment to its withdrawal reaching ``pending_anchor``. The close is
taken as the moment simnet's synchronous submission returned (the ledger closed and was
ingested); the match as ``anchor_payment.processed_at``, written right after the
transaction's guarded move to ``pending_anchor`` commits.

    python bench/withdrawals_throughput.py --payments 1000 --payers 100 --ledger-interval 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from stellar_sdk import Account, Asset, Keypair, Server, TextMemo, TransactionBuilder  # noqa: E402
from support.services import PostgresServer, RabbitServer  # noqa: E402

from anchor_dramatiq import config  # noqa: E402
from anchor_dramatiq.crypto import Secret, encrypt_seed  # noqa: E402
from anchor_dramatiq.db import open_database  # noqa: E402
from anchor_dramatiq.migrate import migrate  # noqa: E402
from anchor_dramatiq.models import Asset as AssetRow  # noqa: E402
from anchor_dramatiq.models import Cursor, Payment, Transaction  # noqa: E402
from simnet import Simnet  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"


def submit(server: Server, passphrase: str, source: Keypair, ops, signers=(), memo=None) -> dict:
    builder = TransactionBuilder(server.load_account(source.public_key), passphrase, 100)
    ops(builder)
    if memo is not None:
        builder.add_memo(memo)
    tx = builder.set_timeout(120).build()
    for kp in (source, *signers):
        tx.sign(kp)
    return server.submit_transaction(tx)


def setup_chain(sim: Simnet, payers: int) -> tuple[Keypair, Keypair, list[Keypair]]:
    server = Server(sim.url)
    issuer, dist = Keypair.random(), Keypair.random()
    sim.friendbot(issuer.public_key)
    sim.friendbot(dist.public_key)
    usd = Asset("USD", issuer.public_key)
    accounts = [Keypair.random() for _ in range(payers)]
    for chunk in range(0, payers, 100):
        group = accounts[chunk:chunk + 100]
        submit(server, sim.passphrase, issuer, lambda b, g=group: [
            b.append_create_account_op(kp.public_key, "20") for kp in g])
    submit(server, sim.passphrase, dist, lambda b: b.append_change_trust_op(usd))
    for chunk in range(0, payers, 19):  # 20 signatures at most per transaction
        group = accounts[chunk:chunk + 19]
        submit(server, sim.passphrase, dist, lambda b, g=group: [
            b.append_change_trust_op(usd, source=kp.public_key) for kp in g], signers=group)
    for chunk in range(0, payers, 100):
        group = accounts[chunk:chunk + 100]
        submit(server, sim.passphrase, issuer, lambda b, g=group: [
            b.append_payment_op(kp.public_key, usd, "100000") for kp in g])
    return issuer, dist, accounts


def pay(sim: Simnet, payer: Keypair, memos: list[str], dist: str, usd: Asset,
        closed: dict[str, float]) -> None:
    """One payer's payments, one transaction per ledger; records when each ledger closed."""
    server = Server(sim.url)
    account: Account = server.load_account(payer.public_key)
    for memo in memos:
        tx = (TransactionBuilder(account, sim.passphrase, 100)
              .append_payment_op(dist, usd, "10").add_memo(TextMemo(memo)).set_timeout(120).build())
        tx.sign(payer)
        server.submit_transaction(tx, skip_memo_required_check=True)
        closed[memo] = time.time()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--payers", type=int, default=100)
    parser.add_argument("--ledger-interval", type=float, default=1.0)
    parser.add_argument("--processes", type=int, default=2, help="dramatiq worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    args = parser.parse_args()

    postgres, rabbit = PostgresServer(), RabbitServer()
    postgres.start()
    rabbit.start()
    procs: list[subprocess.Popen] = []
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-withdrawals-{os.getpid()}"
    logs.mkdir(exist_ok=True)
    try:
        with Simnet(ledger_interval=args.ledger_interval, ledger_capacity=5000,
                    stream_timeout=55.0) as sim:
            db_url = postgres.create_database()
            config.configure(config.Settings.from_env({
                "ANCHOR_DATABASE_URL": db_url, "ANCHOR_SECRET_KEY": SECRET_KEY}))
            open_database(db_url)
            migrate()
            issuer, dist, payers = setup_chain(sim, args.payers)
            usd = Asset("USD", issuer.public_key)
            asset = AssetRow.create(code="USD", issuer=issuer.public_key, significant_decimals=2,
                                    distribution_seed=encrypt_seed(Secret(dist.secret), Secret(SECRET_KEY)))
            memos = [f"bench-{i}" for i in range(args.payments)]
            Transaction.insert_many([
                {"id": uuid.uuid4(), "stellar_account": payers[i % len(payers)].public_key,
                 "kind": "withdrawal", "status": "pending_user_transfer_start", "protocol": "sep24",
                 "asset": asset.id, "memo": memo, "memo_type": "text",
                 "receiving_anchor_account": dist.public_key, "amount_expected": Decimal("10")}
                for i, memo in enumerate(memos)]).execute()
            env = {k: v for k, v in os.environ.items() if not k.startswith("ANCHOR_")}
            env.update({"ANCHOR_DATABASE_URL": db_url, "ANCHOR_BROKER_URL": rabbit.url,
                        "ANCHOR_SECRET_KEY": SECRET_KEY, "ANCHOR_HORIZON_URL": sim.url,
                        "ANCHOR_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
                        "dramatiq_prom_db": str(logs / "prom")})
            dramatiq_bin = str(Path(sys.executable).parent / "dramatiq")
            for name, argv in (("workers", [dramatiq_bin, "actors", "-p", str(args.processes),
                                            "-t", str(args.threads)]),
                               ("streamer", [sys.executable, "streamer.py"])):
                procs.append(subprocess.Popen(argv, env=env, cwd=REPO,
                                              stdout=open(logs / f"{name}.log", "wb"),
                                              stderr=subprocess.STDOUT, start_new_session=True))
            deadline = time.monotonic() + 60
            while Cursor.get_or_none(Cursor.account == dist.public_key) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamer did not start; see {logs}")
                time.sleep(0.1)
            time.sleep(3)  # workers connected

            closed: dict[str, float] = {}
            per_payer = [memos[i::len(payers)] for i in range(len(payers))]
            threads = [threading.Thread(target=pay, args=(sim, kp, ms, dist.public_key, usd, closed))
                       for kp, ms in zip(payers, per_payer, strict=True)]
            started = time.time()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            deadline = time.monotonic() + 300
            while Payment.select().where(Payment.outcome == "matched").count() < args.payments:
                if time.monotonic() > deadline:
                    raise RuntimeError("not every payment matched in 5 minutes")
                time.sleep(0.2)
            rows = list(Payment.select(Payment.memo, Payment.processed_at, Payment.recorded_at))
            delays = sorted(row.processed_at.timestamp() - closed[row.memo] for row in rows)
            recorded = sorted(row.recorded_at.timestamp() - closed[row.memo] for row in rows)
            first_close = min(closed.values())
            last_match = max(row.processed_at.timestamp() for row in rows)
            still_waiting = Transaction.select().where(
                Transaction.status == "pending_user_transfer_start").count()

            def pct(p: float) -> float:
                return round(delays[min(len(delays) - 1, int(p * len(delays)))], 3)

            report = {
                "payments": args.payments, "payers": args.payers,
                "ledger_interval_s": args.ledger_interval,
                "workers": f"{args.processes}x{args.threads}",
                "submitting_s": round(max(closed.values()) - started, 2),
                "matched_per_s": round(args.payments / (last_match - first_close), 1),
                "close_to_pending_anchor_s": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99),
                                              "max": round(delays[-1], 3),
                                              "mean": round(statistics.fmean(delays), 3)},
                "close_to_recorded_s": {"p50": round(recorded[len(recorded) // 2], 3),
                                        "max": round(recorded[-1], 3)},
                "still_waiting": still_waiting,
                "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            print(json.dumps(report, indent=2))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        rabbit.cleanup()
        postgres.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
