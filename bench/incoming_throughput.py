"""Benchmark: the anchor catching up on N incoming payments already on the ledger, end to end.

simnet runs in its own process (bench/simnet_process.py). N payments to the distribution
account are put on its ledger first, one payment per transaction (a memo per withdrawal, as
wallets pay), memos rotating hash / text / id, from ``--payers`` accounts (one transaction
per payer per ledger: its sequence number allows no more) and from look-alike issuers (USD
of another issuer, one payer in 20). N withdrawals wait in PostgreSQL for them, except for
one payment in 20 (unmatched: nobody waits for its memo); a look-alike payment carries the
memo of a waiting withdrawal, so it is rejected ("same code, different asset").

Then ``dramatiq actors`` workers and the real streamer (``python streamer.py``) start on
PostgreSQL and RabbitMQ, the streamer from a cursor before the payments. Reports recorded/s
and pending_anchor/s (matched) from the streamer's start, end-to-end time (streamer start
to the last payment settled), the streamer's largest RSS (sampled from /proc), the CPU
seconds each role spent, and checks payment by payment that every one is recorded once with
the outcome its generation implies (matched to its own withdrawal, unmatched, rejected) and
that exactly the matched withdrawals left ``pending_user_transfer_start``.

    python bench/incoming_throughput.py --payments 20000 --payers 500
    python bench/incoming_throughput.py --payments 100000 --payers 1000
    python bench/incoming_throughput.py --payments 20000 --payers 500 --network-api rpc

``--network-api rpc`` runs the workers and the streamer on simnet's Stellar RPC (the streamer
reads ``getEvents``) instead of Horizon, from the same cursor.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "bench" / "polaris"))
sys.path.insert(0, str(REPO))

from anchor_processes import (  # noqa: E402
    AnchorProcesses,
    RssPeak,
    anchor_env,
    cpu_seconds,
    postgres_pid,
    profile,
)
from chain import Chain  # noqa: E402
from harness import Polaris  # noqa: E402
from paying import Pay, memo_of, pay_rounds, rounds, sign_all  # noqa: E402
from polaris_venv import ensure_venv  # noqa: E402
from simnet_process import SimnetProcess  # noqa: E402
from stellar_sdk import Asset, Keypair  # noqa: E402
from support.services import PostgresServer, RabbitServer  # noqa: E402

from anchor_dramatiq import config  # noqa: E402
from anchor_dramatiq.crypto import Secret, encrypt_seed  # noqa: E402
from anchor_dramatiq.db import open_database  # noqa: E402
from anchor_dramatiq.migrate import migrate  # noqa: E402
from anchor_dramatiq.models import Asset as AssetRow  # noqa: E402
from anchor_dramatiq.models import Payment, Transaction  # noqa: E402
from anchor_dramatiq.vocabulary import PaymentOutcome, TransactionStatus  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"
AMOUNT = "10"
LOOK_ALIKE_EVERY = 20  # one source in 20 is a look-alike issuer
UNMATCHED_EVERY = 20  # one payment in 20 from a real payer has no withdrawal waiting


def look_alike_issuers(chain: Chain, count: int) -> list[Keypair]:
    """``count`` issuers of another USD, trusted by the distribution account."""
    keys = [Keypair.random() for _ in range(count)]
    for i in range(0, count, 100):
        chain.submit(chain.issuer, lambda b, g=keys[i:i + 100]: [
            b.append_create_account_op(k.public_key, "3") for k in g])
        chain.submit(chain.distribution, lambda b, g=keys[i:i + 100]: [
            b.append_change_trust_op(Asset("USD", k.public_key)) for k in g])
    return keys


def plan(chain: Chain, fakes: list[Keypair], payments: int) -> tuple[dict[str, list[Pay]], dict[str, str]]:
    """Who pays what (payer secret -> its payments, in order) and each memo's expected outcome.

    Payment ``n`` comes from source ``n % sources``; a look-alike issuer's payments are
    ``rejected``, one in 20 of the others ``unmatched``, the rest ``matched``."""
    sources = [*chain.payers, *fakes]
    dist = chain.distribution.public_key
    work: dict[str, list[Pay]] = {kp.secret: [] for kp in sources}
    expected: dict[str, str] = {}
    for n in range(payments):
        source = sources[n % len(sources)]
        fake = n % len(sources) >= len(chain.payers)
        issuer = source.public_key if fake else chain.issuer.public_key
        work[source.secret].append(Pay(n, dist, "USD", issuer, AMOUNT))
        memo = memo_of(n)[1]
        if fake:
            expected[memo] = PaymentOutcome.REJECTED
        elif n % UNMATCHED_EVERY == 1:
            expected[memo] = PaymentOutcome.UNMATCHED
        else:
            expected[memo] = PaymentOutcome.MATCHED
    return work, expected


def waiting_withdrawals(asset: AssetRow, chain: Chain, expected: dict[str, str]) -> dict[str, uuid.UUID]:
    """A withdrawal waiting for each memo that is not meant to be unmatched; memo -> its id."""
    ids: dict[str, uuid.UUID] = {}
    rows = []
    for n in range(len(expected)):
        _, memo, memo_type = memo_of(n)
        if expected[memo] == PaymentOutcome.UNMATCHED:
            continue
        ids[memo] = uuid.uuid4()
        rows.append({"id": ids[memo], "stellar_account": chain.payers[0].public_key, "kind": "withdrawal",
                     "status": TransactionStatus.PENDING_USER_TRANSFER_START, "protocol": "sep24",
                     "asset": asset.id, "memo": memo, "memo_type": memo_type,
                     "receiving_anchor_account": chain.distribution.public_key,
                     "amount_expected": Decimal(AMOUNT)})
    for i in range(0, len(rows), 5000):
        Transaction.insert_many(rows[i:i + 5000]).execute()
    return ids


def check(expected: dict[str, str], withdrawals: dict[str, uuid.UUID]) -> dict[str, int]:
    """Every payment's row against its expected outcome, payment by payment."""
    seen: dict[str, int] = {}
    wrong = 0
    for row in Payment.select(Payment.memo, Payment.outcome, Payment.transaction_id, Payment.amount):
        seen[row.memo] = seen.get(row.memo, 0) + 1
        want = expected.get(row.memo)
        if (row.outcome != want or row.amount != Decimal(AMOUNT)
                or (want == PaymentOutcome.MATCHED and row.transaction_id != withdrawals[row.memo])):
            wrong += 1
    left = {t.memo for t in Transaction.select(Transaction.memo).where(
        Transaction.status == TransactionStatus.PENDING_USER_TRANSFER_START)}
    should_wait = {memo for memo, outcome in expected.items() if outcome == PaymentOutcome.REJECTED}
    return {"wrong_outcome": wrong,
            "not_recorded_once": sum(1 for memo in expected if seen.get(memo) != 1),
            "withdrawals_wrongly_waiting_or_moved": len(left ^ should_wait)}


def polaris_catch_up(postgres: PostgresServer, sim: SimnetProcess, chain: Chain,
                     expected: dict[str, str], count: int, logs: Path) -> dict:
    """django-polaris 2.6's ``watch_transactions`` on the same ledger: a fresh database (Polaris's
    migrations, then anchor-dramatiq's, as bench/compare_polaris.py builds it) with the
    withdrawals of the first ``count`` payments waiting; from its start (cursor ``0``: the
    account's first transaction, a few setup transactions before the payments) until every one
    of them that can match is ``pending_anchor``."""
    db_url = postgres.create_database()
    polaris = Polaris(ensure_venv(), {"ANCHOR_DATABASE_URL": db_url, "ANCHOR_SECRET_KEY": SECRET_KEY,
                                      "ANCHOR_HORIZON_URL": sim.url,
                                      "ANCHOR_NETWORK_PASSPHRASE": sim.passphrase})
    polaris.migrate()
    open_database(db_url)
    migrate()
    made = polaris.bench("asset", "--code", "USD", "--issuer", chain.issuer.public_key,
                         extra_env={"POLARIS_BENCH_DISTRIBUTION_SEED": chain.distribution.secret})
    subset = {memo_of(n)[1]: expected[memo_of(n)[1]] for n in range(count)}
    waiting_withdrawals(AssetRow.get_by_id(made["id"]), chain, subset)
    matchable = sum(1 for outcome in subset.values() if outcome == PaymentOutcome.MATCHED)
    started = time.time()
    watcher = subprocess.Popen([str(polaris.python), str(REPO / "bench" / "polaris" / "manage.py"),
                                "watch_transactions"], env=polaris.env, cwd=REPO / "bench" / "polaris",
                               stdout=open(logs / "polaris-watch_transactions.log", "wb"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 3600
        while (done := Transaction.select().where(
                Transaction.status == TransactionStatus.PENDING_ANCHOR).count()) < matchable:
            if time.monotonic() > deadline or watcher.poll() is not None:
                raise RuntimeError(f"watch_transactions matched {done} of {matchable}; see {logs}")
            time.sleep(0.5)
        elapsed = time.time() - started
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
    return {"payments": count, "pending_anchor": matchable, "end_to_end_s": round(elapsed, 2),
            "settled_per_s": round(count / elapsed, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=20000)
    parser.add_argument("--payers", type=int, default=500)
    parser.add_argument("--ledger-interval", type=float, default=0.5)
    parser.add_argument("--ledger-capacity", type=int, default=10000)
    parser.add_argument("--network-api", choices=["horizon", "rpc"], default="horizon")
    parser.add_argument("--processes", type=int, default=2, help="dramatiq worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument("--payouts", action="store_true",
                        help="also wait for every payout to leave pending_anchor (execute_outgoing)")
    parser.add_argument("--polaris", type=int, default=0, metavar="N",
                        help="then django-polaris's watch_transactions on the first N payments")
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                        help="py-spy the streamer and workers this long (stacks in the logs)")
    args = parser.parse_args()

    postgres, rabbit = PostgresServer(), RabbitServer()
    postgres.start()
    rabbit.start()
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-incoming-{os.getpid()}"
    logs.mkdir(exist_ok=True)
    sim = SimnetProcess(ledger_interval=args.ledger_interval, ledger_capacity=args.ledger_capacity,
                        log=logs / "simnet.log").start()
    anchor: AnchorProcesses | None = None
    try:
        chain = Chain(sim, payers=args.payers)
        fakes = look_alike_issuers(chain, max(1, args.payers // (LOOK_ALIKE_EVERY - 1)))
        work, expected = plan(chain, fakes, args.payments)
        sequences = {kp.secret: int(chain.server.load_account(kp.public_key).sequence)
                     for kp in [*chain.payers, *fakes]}
        signing = time.time()
        envelopes = sign_all(sequences, sim.passphrase, work)
        signing = time.time() - signing
        start_cursor = str((sim.latest_ledger + 1) << 32)
        loading = time.time()
        pay_rounds(sim.url, rounds(envelopes))
        loading = time.time() - loading
        del envelopes

        db_url = postgres.create_database()
        config.configure(config.Settings.from_env({"ANCHOR_DATABASE_URL": db_url,
                                                   "ANCHOR_SECRET_KEY": SECRET_KEY}))
        open_database(db_url)
        migrate()
        asset = AssetRow.create(code="USD", issuer=chain.issuer.public_key, significant_decimals=2,
                                distribution_seed=encrypt_seed(Secret(chain.distribution.secret),
                                                               Secret(SECRET_KEY)))
        withdrawals = waiting_withdrawals(asset, chain, expected)

        anchor = AnchorProcesses(anchor_env(db_url, rabbit.url, sim.url, SECRET_KEY, logs,
                                            ANCHOR_STREAM_START_CURSOR=start_cursor,
                                            ANCHOR_NETWORK_API=args.network_api,
                                            ANCHOR_RPC_URL=sim.url.rstrip("/") + "/rpc"), logs)
        workers = anchor.workers(args.processes, args.threads)
        time.sleep(4)  # the worker processes forked, imported and connected
        roles = {"simnet": [sim.pid], "postgres": [postgres_pid(postgres)], "rabbitmq": rabbit.beam_pids(),
                 "workers": [workers.pid]}
        cpu_before = {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in roles.items()}
        started = time.time()
        streamer = anchor.streamer()
        roles["streamer"] = [streamer.pid]
        rss = RssPeak(streamer.pid)
        spies: list[subprocess.Popen] = []
        if args.profile:
            spies = [profile(pid, logs / f"{role}.pyspy", args.profile)
                     for role, pid in (("streamer", streamer.pid), ("workers", workers.pid))]
        total = len(expected)
        deadline = time.monotonic() + 3600
        while Payment.select().where(Payment.outcome != PaymentOutcome.PENDING).count() < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not every payment settled in an hour; see {logs}")
            anchor.check()
            time.sleep(0.5)
        cpu = {role: round(sum(cpu_seconds(pid) for pid in pids) - cpu_before.get(role, 0.0), 1)
               for role, pids in roles.items()}
        settled_at = time.time()
        while args.payouts and Transaction.select().where(
                Transaction.status == TransactionStatus.PENDING_ANCHOR).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"payouts not done in an hour; see {logs}")
            anchor.check()
            time.sleep(0.5)
        payouts_done = time.time()
        streamer_rss = rss.stop()
        for spy in spies:
            spy.wait()
        recorded = Payment.select(Payment.recorded_at).order_by(Payment.recorded_at.desc()).first()
        settled = Payment.select(Payment.processed_at).order_by(Payment.processed_at.desc()).first()
        matched = Payment.select().where(Payment.outcome == PaymentOutcome.MATCHED).count()
        end_to_end = settled.processed_at.timestamp() - started
        report = {
            "network_api": args.network_api,
            "payments": total, "payers": args.payers, "look_alike_issuers": len(fakes),
            "expected": {outcome: sum(1 for v in expected.values() if v == outcome)
                         for outcome in sorted(set(expected.values()))},
            "workers": f"{args.processes}x{args.threads}",
            "signing_s": round(signing, 1), "loading_ledger_s": round(loading, 1),
            "recorded_per_s": round(total / (recorded.recorded_at.timestamp() - started), 1),
            "pending_anchor_per_s": round(matched / end_to_end, 1),
            "settled_per_s": round(total / end_to_end, 1),
            "end_to_end_s": round(end_to_end, 2),
            "payouts_done_s": round(payouts_done - started, 1) if args.payouts else None,
            "settled_seen_s": round(settled_at - started, 1),
            "streamer_rss_max_mb": round(streamer_rss / 2**20, 1),
            "cpu_s": cpu,
            **check(expected, withdrawals),
            "load_average": os.getloadavg(),
        }
        anchor.stop()
        if args.polaris:
            report["polaris"] = polaris_catch_up(postgres, sim, chain, expected, args.polaris, logs)
            ratio = report["settled_per_s"] / report["polaris"]["settled_per_s"]
            report["ratio_settled_per_s"] = round(ratio, 1)
        report |= {
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        print(json.dumps(report, indent=2))
        failed = report["wrong_outcome"] or report["not_recorded_once"] or report[
            "withdrawals_wrongly_waiting_or_moved"]
        return 1 if failed else 0
    finally:
        if anchor is not None:
            anchor.stop()
        sim.stop()
        rabbit.cleanup()
        postgres.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
