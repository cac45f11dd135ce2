"""Benchmark: the streamer catching up on N incoming payments already on the ledger.

simnet runs in its own process (bench/simnet_process.py); N payments to the distribution
account are put on its ledger first, in 100-operation transactions from ``--payers``
accounts, memos rotating hash / text / id, every tenth transaction a look-alike asset (USD
from another issuer). Then the real streamer (``python streamer.py``) starts on PostgreSQL
and RabbitMQ from a cursor before them. Reports payments recorded per second (streamer
start to last row), the streamer's largest RSS (sampled from /proc), and checks payment by
payment that every one on the ledger is recorded once with its amount, asset, issuer, memo
and memo type as generated.

Matching is not measured here yet: the batch matcher (``process_payments``) lands on
another branch.

    python bench/incoming_throughput.py --payments 5000 --payers 20
    python bench/incoming_throughput.py --payments 5000 --payers 20 --network-api rpc

``--network-api rpc`` runs the streamer on simnet's Stellar RPC (``getEvents``) instead of
Horizon, from the same cursor.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from chain import Chain  # noqa: E402
from simnet_process import SimnetProcess  # noqa: E402
from stellar_sdk import Asset, HashMemo, IdMemo, Keypair, Memo, TextMemo  # noqa: E402
from support.services import PostgresServer, RabbitServer  # noqa: E402

from anchor_dramatiq import config  # noqa: E402
from anchor_dramatiq.crypto import Secret, encrypt_seed  # noqa: E402
from anchor_dramatiq.db import open_database  # noqa: E402
from anchor_dramatiq.migrate import migrate  # noqa: E402
from anchor_dramatiq.models import Asset as AssetRow  # noqa: E402
from anchor_dramatiq.models import Cursor, Payment  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"
OPS = 100


def memo_of(n: int) -> tuple[Memo, str, str]:
    """Transaction ``n``'s memo, and how Horizon (so ``anchor_payment``) writes it and its type."""
    kind = n % 3
    if kind == 0:
        digest = hashlib.sha256(f"bench-{n}".encode()).digest()
        return HashMemo(digest), base64.b64encode(digest).decode(), "hash"
    if kind == 1:
        return TextMemo(f"bench-{n}"), f"bench-{n}", "text"
    return IdMemo(1_000_000 + n), str(1_000_000 + n), "id"


def rss_sampler(pid: int, peak: list[int], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    peak[0] = max(peak[0], int(line.split()[1]) * 1024)
        except FileNotFoundError:
            return
        stop.wait(0.2)


def put_on_ledger(chain: Chain, fake_issuer: Keypair, fake: Asset, transactions: int
                  ) -> dict[str, tuple[str, str, str]]:
    """``transactions`` 100-payment transactions to the distribution account; memo -> (memo
    type, asset issuer, amount) of each one's payments."""
    dist = chain.distribution.public_key
    expected: dict[str, tuple[str, str, str]] = {}
    jobs: dict[int, list[int]] = {}
    for n in range(transactions):
        jobs.setdefault(n % (len(chain.payers) + 1), []).append(n)

    def run(slot: int, numbers: list[int]) -> None:
        look_alike = slot == len(chain.payers)
        source = fake_issuer if look_alike else chain.payers[slot]
        asset = fake if look_alike else chain.usd
        for n in numbers:
            memo, text, kind = memo_of(n)
            amount = f"{1 + n % 7}.5"
            chain.submit(source, lambda b, a=asset, m=amount: [b.append_payment_op(dist, a, m)
                                                               for _ in range(OPS)], memo=memo)
            expected[text] = (kind, asset.issuer, amount)

    threads = [threading.Thread(target=run, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=5000)
    parser.add_argument("--payers", type=int, default=20)
    parser.add_argument("--ledger-interval", type=float, default=0.5)
    parser.add_argument("--network-api", choices=["horizon", "rpc"], default="horizon")
    args = parser.parse_args()
    transactions = max(1, args.payments // OPS)

    postgres, rabbit = PostgresServer(), RabbitServer()
    postgres.start()
    rabbit.start()
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-incoming-{os.getpid()}"
    logs.mkdir(exist_ok=True)
    sim = SimnetProcess(ledger_interval=args.ledger_interval, ledger_capacity=100_000,
                        log=logs / "simnet.log").start()
    streamer: subprocess.Popen | None = None
    try:
        chain = Chain(sim, payers=args.payers)
        fake_issuer = Keypair.random()
        sim.friendbot(fake_issuer.public_key)
        fake = Asset("USD", fake_issuer.public_key)
        chain.submit(chain.distribution, lambda b: b.append_change_trust_op(fake))
        start_cursor = str((sim.latest_ledger + 1) << 32)
        loading = time.time()
        expected = put_on_ledger(chain, fake_issuer, fake, transactions)
        loading = time.time() - loading

        db_url = postgres.create_database()
        config.configure(config.Settings.from_env({"ANCHOR_DATABASE_URL": db_url,
                                                   "ANCHOR_SECRET_KEY": SECRET_KEY}))
        open_database(db_url)
        migrate()
        AssetRow.create(code="USD", issuer=chain.issuer.public_key, significant_decimals=2,
                        distribution_seed=encrypt_seed(Secret(chain.distribution.secret),
                                                       Secret(SECRET_KEY)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANCHOR_")}
        env.update({"ANCHOR_DATABASE_URL": db_url, "ANCHOR_BROKER_URL": rabbit.url,
                    "ANCHOR_SECRET_KEY": SECRET_KEY, "ANCHOR_HORIZON_URL": sim.url,
                    "ANCHOR_STREAM_START_CURSOR": start_cursor, "ANCHOR_LOG_LEVEL": "WARNING",
                    "PYTHONUNBUFFERED": "1", "ANCHOR_NETWORK_API": args.network_api,
                    "ANCHOR_RPC_URL": sim.url.rstrip("/") + "/rpc"})
        total = transactions * OPS
        started = time.time()
        streamer = subprocess.Popen([sys.executable, "streamer.py"], env=env, cwd=REPO,
                                    stdout=open(logs / "streamer.log", "wb"),
                                    stderr=subprocess.STDOUT, start_new_session=True)
        peak, stop = [0], threading.Event()
        sampler = threading.Thread(target=rss_sampler, args=(streamer.pid, peak, stop), daemon=True)
        sampler.start()
        deadline = time.monotonic() + 1800
        while Payment.select().count() < total:
            if time.monotonic() > deadline or streamer.poll() is not None:
                raise RuntimeError(f"not every payment recorded; see {logs}")
            time.sleep(0.2)
        last = Payment.select(Payment.recorded_at).order_by(Payment.recorded_at.desc()).first()
        elapsed = last.recorded_at.timestamp() - started
        stop.set()

        wrong = []
        seen: dict[str, int] = {}
        for row in Payment.select():
            kind, issuer, amount = expected[row.memo]
            seen[row.memo] = seen.get(row.memo, 0) + 1
            if (row.memo_type, row.asset_issuer, row.amount, row.asset_code) != (
                    kind, issuer, Decimal(amount), "USD"):
                wrong.append(row.operation_id)
        missing = [memo for memo in expected if seen.get(memo) != OPS]
        cursor = Cursor.get(Cursor.account == chain.distribution.public_key)
        report = {
            "network_api": args.network_api,
            "payments": total, "transactions": transactions, "payers": args.payers,
            "look_alike_payments": sum(OPS for v in expected.values() if v[1] == fake.issuer),
            "loading_ledger_s": round(loading, 1),
            "recorded_per_s": round(total / elapsed, 1),
            "catch_up_s": round(elapsed, 2),
            "streamer_rss_max_mb": round(peak[0] / 2**20, 1),
            "wrong_rows": len(wrong), "memos_not_recorded_100_times": len(missing),
            "cursor_ledger": cursor.last_ledger,
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        print(json.dumps(report, indent=2))
        return 1 if wrong or missing else 0
    finally:
        if streamer is not None:
            streamer.terminate()
            try:
                streamer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                streamer.kill()
        sim.stop()
        rabbit.cleanup()
        postgres.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
