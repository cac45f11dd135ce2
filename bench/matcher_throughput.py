"""Benchmark: the matcher alone, a batch at a time vs one payment at a time, on PostgreSQL.

Starts a private PostgreSQL (tests/support/services.py) and builds the same world in two
databases: N withdrawals waiting in ``pending_user_transfer_start`` and N recorded payments
(``--mix``: most pay their withdrawal by hash memo; the rest are look-alike issuers, no memo,
unknown memos and second payments for a paid withdrawal). Then one database is matched by
``process_payment`` per payment and the other by ``process_payments`` per ``--batch`` ids,
each by ``--threads`` threads, and the outcomes are compared payment by payment. No broker,
no simnet: the figure is the matcher's database work.

    python bench/matcher_throughput.py --payments 2000 --batch 100 --threads 1
"""

from __future__ import annotations

import argparse
import base64
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from stellar_sdk import Keypair  # noqa: E402
from support.factories import payment_record  # noqa: E402
from support.services import PostgresServer  # noqa: E402

from anchor_dramatiq import config  # noqa: E402
from anchor_dramatiq.crypto import Secret, encrypt_seed  # noqa: E402
from anchor_dramatiq.db import database, open_database  # noqa: E402
from anchor_dramatiq.migrate import migrate  # noqa: E402
from anchor_dramatiq.models import Asset, Payment, Transaction  # noqa: E402
from anchor_dramatiq.payments.process import process_payment, process_payments  # noqa: E402
from anchor_dramatiq.streaming.cursor import record_event  # noqa: E402
from anchor_dramatiq.vocabulary import PaymentOutcome, TransactionKind, TransactionStatus  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"


class World:
    """One set of withdrawals and payment records, written identically into any database."""

    def __init__(self, payments: int) -> None:
        self.distribution, self.issuer = Keypair.random(), Keypair.random().public_key
        self.withdrawal_ids = [uuid.uuid4() for _ in range(payments)]
        asset = Asset(code="USD", issuer=self.issuer)
        account = self.distribution.public_key
        self.records = []
        for i, withdrawal_id in enumerate(self.withdrawal_ids):
            memo = memo_of(withdrawal_id)
            kind = i % 20
            if kind == 1:  # same code, another issuer
                record = payment_record(account, asset, memo=memo, memo_type="hash",
                                        issuer=Keypair.random().public_key)
            elif kind == 2:
                record = payment_record(account, asset)
            elif kind == 3:
                record = payment_record(account, asset, memo=f"nobody-{i}")
            elif kind == 4:  # a second payment for the withdrawal paid just before
                record = payment_record(account, asset, "1", memo=memo_of(self.withdrawal_ids[i - 1]),
                                        memo_type="hash")
            else:
                record = payment_record(account, asset, memo=memo, memo_type="hash")
            self.records.append(record)

    def write(self, url: str) -> None:
        open_database(url)
        migrate()
        asset = Asset.create(code="USD", issuer=self.issuer, significant_decimals=7,
                             distribution_seed=encrypt_seed(Secret(self.distribution.secret),
                                                                config.get_settings().secret_key))
        rows = [{"id": t, "stellar_account": self.issuer, "kind": TransactionKind.WITHDRAWAL,
                 "status": TransactionStatus.PENDING_USER_TRANSFER_START, "protocol": "sep24",
                 "asset": asset.id, "memo": memo_of(t), "memo_type": "hash",
                 "receiving_anchor_account": self.distribution.public_key,
                 "amount_expected": Decimal(10)} for t in self.withdrawal_ids]
        with database.atomic():
            for start in range(0, len(rows), 500):
                Transaction.insert_many(rows[start:start + 500]).execute()
        for record in self.records:
            record_event(record, self.distribution.public_key)

    def outcomes(self) -> list[tuple[str, int | None]]:
        """Each payment's outcome and the index of its withdrawal, in record order."""
        index = {t: i for i, t in enumerate(self.withdrawal_ids)}
        rows = {p.operation_id: p for p in Payment.select()}
        return [(rows[r["id"]].outcome, index.get(rows[r["id"]].transaction_id)) for r in self.records]


def memo_of(transaction_id: uuid.UUID) -> str:
    return base64.b64encode(bytes.fromhex(transaction_id.hex.rjust(64, "0"))).decode()


def run(work: list[list[str]], threads: int, step: Callable[[list[str]], object]) -> float:
    """Seconds for ``threads`` threads to take every unit of ``work`` through ``step``."""
    lock = threading.Lock()
    todo = list(reversed(work))

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    break
                unit = todo.pop()
            step(unit)
        database.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    postgres = PostgresServer()
    postgres.start()
    try:
        world = World(args.payments)
        ids = [r["id"] for r in world.records]
        results = {}
        for path, work, step in (
                ("one at a time", [[i] for i in ids], lambda unit: process_payment(unit[0])),
                (f"batches of {args.batch}", [ids[i:i + args.batch] for i in range(0, len(ids), args.batch)],
                 process_payments)):
            url = postgres.create_database()
            config.configure(config.Settings.from_env({"ANCHOR_DATABASE_URL": url,
                                                       "ANCHOR_SECRET_KEY": SECRET_KEY}))
            world.write(url)
            seconds = run(work, args.threads, step)
            outcomes = world.outcomes()
            assert all(outcome != PaymentOutcome.PENDING for outcome, _ in outcomes), "payments left pending"
            results[path] = (seconds, outcomes)
            database.close()
            print(f"{path:>16}: {len(ids)} payments in {seconds:.2f} s = "
                  f"{len(ids) / seconds:,.0f} payments/s ({args.threads} threads)", flush=True)
        (single, one_by_one), (batched, in_batches) = results.values()
        same = sum(a == b for a, b in zip(one_by_one, in_batches, strict=True))
        matched = sum(outcome == PaymentOutcome.MATCHED for outcome, _ in in_batches)
        print(f"outcomes identical for {same}/{len(ids)} payments ({matched} matched); "
              f"speed-up {single / batched:.1f}x")
        if same != len(ids):
            raise SystemExit(1)
    finally:
        postgres.cleanup()


if __name__ == "__main__":
    main()
