"""Deposit throughput on simnet: N ready deposits, C channel accounts, batches of B.

Runs simnet, a SQLite (or ``--database-url``) database, the in-process broker and a
Dramatiq worker with T threads in this process; sends ``submit_deposit`` for every ready
deposit and reports wall time and deposits per ledger, then checks that every wallet
received exactly the sum of its deposits.

    python bench/deposits_throughput.py --deposits 1000 --channels 8 --batch 50 --threads 8
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.pop("ANCHOR_BROKER_URL", None)
os.environ.setdefault("ANCHOR_SECRET_KEY", "bench-secret-key-for-anchor-dramatiq")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deposits", type=int, default=1000)
    parser.add_argument("--wallets", type=int, default=100)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--ledger-interval", type=float, default=1.0)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    database_url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    os.environ["ANCHOR_DATABASE_URL"] = database_url

    from dramatiq import Worker

    import actors
    from anchor_dramatiq import config
    from anchor_dramatiq.db import open_database, utcnow
    from anchor_dramatiq.deposits.messages import send_submit
    from anchor_dramatiq.migrate import migrate
    from anchor_dramatiq.models import Transaction
    from anchor_dramatiq.stellar import channels
    from simnet import Simnet
    from tests.support.anchor import make_anchor

    with Simnet(ledger_interval=args.ledger_interval, submission_timeout=30) as sim:
        settings = config.get_settings().replace(
            horizon_url=sim.url, network_passphrase=sim.network.passphrase, batch_size=args.batch,
            database_url=database_url)
        config.configure(settings)
        open_database(database_url)
        migrate()
        anchor = make_anchor(sim, settings, supply="100000000")
        with anchor.server() as server:
            if args.channels:
                channels.create(server, anchor.distribution, args.channels, settings)
        wallets = [anchor.wallet() for _ in range(args.wallets)]
        expected: dict[str, Decimal] = defaultdict(Decimal)
        rows = []
        for i in range(args.deposits):
            wallet = wallets[i % len(wallets)].public_key
            amount = Decimal(1 + i % 7)
            expected[wallet] += amount
            rows.append(dict(id=uuid.uuid4(), stellar_account=wallet, to_address=wallet, kind="deposit",
                             protocol="sep24", status="pending_anchor", submission_status="ready",
                             asset=anchor.asset, amount_in=amount, amount_fee=Decimal(0),
                             amount_out=amount, queued_at=utcnow()))
        Transaction.insert_many(rows).execute()
        worker = Worker(actors.broker, worker_timeout=50, worker_threads=args.threads)
        first_ledger = sim.latest_ledger
        started = time.monotonic()
        worker.start()
        for row in rows:
            send_submit(row["id"])
        while Transaction.select().where(Transaction.status == "completed").count() < args.deposits:
            if time.monotonic() - started > 600:
                raise SystemExit("not finished in 10 minutes")
            time.sleep(0.2)
        wall = time.monotonic() - started
        ledgers = sim.latest_ledger - first_ledger
        worker.stop()
        wrong = [w for w, amount in expected.items() if anchor.balance(w) != amount]
        payments = sum(len(anchor.payments_to(w)) for w in expected)
        print(f"deposits={args.deposits} wallets={args.wallets} channels={args.channels} batch={args.batch} "
              f"threads={args.threads} ledger_interval={args.ledger_interval}s")
        print(f"wall={wall:.1f}s ledgers={ledgers} deposits/ledger={args.deposits / max(ledgers, 1):.1f} "
              f"deposits/s={args.deposits / wall:.1f} payments={payments} wrong_balances={len(wrong)}")
        if wrong or payments != args.deposits:
            raise SystemExit("MISMATCH: some wallet did not receive exactly its deposits")


if __name__ == "__main__":
    main()
