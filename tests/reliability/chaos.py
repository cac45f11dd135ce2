"""The chaos run: real processes paying deposits and withdrawals while things break.

:class:`ChaosRun` sets up an anchor on simnet (issuer, distribution account, deposit
wallets, paying wallets), starts ``dramatiq actors`` (several processes), ``periodiq
scheduler`` with fast schedules and ``python streamer.py`` on RabbitMQ and PostgreSQL, each
kept running by a supervisor thread (restarted when it exits, as systemd would). Then, at a
steady rate for ``duration`` seconds, a load thread creates deposits (funded by the rails at
the next poll) and withdrawals (a wallet really pays the distribution account with the
withdrawal's memo), while the chaos thread SIGKILLs a random worker process every few
seconds, SIGKILLs the streamer and the scheduler, kills and restarts RabbitMQ, crash-restarts
PostgreSQL (at a random moment, and right after a payout call, before its result is saved),
makes some payout calls outlast the claim, runs each worker group and the scheduler with its
own wall-clock offset (``skewed_clock/sitecustomize.py``), and arms the hostile-network
faults on simnet: :data:`HOSTILE_HORIZON` and the streamer's :data:`HOSTILE_STREAMS`, or, when
everything runs over Stellar RPC (``ChaosConfig.network_api``), :data:`HOSTILE_RPC` and the
streamer's :data:`HOSTILE_RPC_STREAMS` (its payments must then all come from getEvents).
Then faults stop and the system drains;
:meth:`ChaosRun.verify` checks the simnet ledger, the database, the counting rails' log and the
dead-letter queues, and returns the figures.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pika
from peewee import InterfaceError, OperationalError
from stellar_sdk import Asset as SdkAsset
from stellar_sdk import Keypair, Server, TextMemo, TransactionBuilder, TransactionEnvelope
from support.factories import make_asset
from support.paths import REPO, TESTS
from support.processes import Process, bin_path, scheduler_argv
from support.queues import purge_queues
from support.rails import calls
from support.secret import TEST_SECRET_KEY

from anchor_dramatiq.cli.status import queue_names
from anchor_dramatiq.db import database
from anchor_dramatiq.models import Payment, Submission, SubmissionItem, Transaction
from anchor_dramatiq.paging import is_event_id
from simnet import Simnet

TERMINAL = "completed"
SKEWED_CLOCK = Path(__file__).resolve().parent / "skewed_clock"


@dataclass(frozen=True)
class HorizonFault:
    """A simnet fault the chaos loop keeps armed: what a hostile network does to the anchor."""

    name: str
    kind: str
    params: dict[str, Any]


# What Horizon behind a load balancer does on a bad day (simnet's fault kinds, docs/simnet.md).
HOSTILE_HORIZON = (
    HorizonFault("504 after the transaction was applied", "submit_timeout",
                 {"applied": True, "count": 3, "probability": 0.5}),
    HorizonFault("404 window on /accounts/", "read_error",
                 {"status": 404, "match": "/accounts/", "count": 8}),
    HorizonFault("404 window on /ledgers", "read_error", {"status": 404, "match": "/ledgers", "count": 4}),
    HorizonFault("429 on reads", "read_error", {"status": 429, "count": 6, "probability": 0.3}),
    HorizonFault("lagging node (hash lookups 404 while accounts are current)", "lagging_node",
                 {"ledgers": 3, "count": 6}),
    HorizonFault("429 without result codes on submit, applied", "submit_rejected",
                 {"status": 429, "applied": True, "count": 1}),
    HorizonFault("429 without result codes on submit, not applied", "submit_rejected",
                 {"status": 429, "applied": False, "count": 1}),
    HorizonFault("tx_too_late to a resubmitted applied envelope", "resubmit_refused",
                 {"code": "tx_too_late", "count": 2}),
    HorizonFault("tx_bad_seq to a resubmitted applied envelope", "resubmit_refused",
                 {"code": "tx_bad_seq", "count": 2}),
)
# The streamer's faults over Horizon: its payment streams.
HOSTILE_STREAMS = (
    HorizonFault("stream slow to answer (2 s)", "latency",
                 {"seconds": 2.0, "scope": "stream", "count": 2}),
    HorizonFault("stream cut", "stream_drop", {"after_events": 2, "count": 1}),
    HorizonFault("stream stalled", "stream_stall", {"after_events": 2, "count": 1}),
)
# What a Stellar RPC provider does on a bad day (simnet's rpc_* faults, docs/simnet.md).
HOSTILE_RPC = (
    # The pipeline sends few, large envelopes (a CI run: a handful): every one sent while a
    # submission fault is armed meets it.
    HorizonFault("JSON-RPC internal error on sendTransaction, applied", "rpc_error",
                 {"applied": True, "match": "/rpc/sendTransaction", "count": 1}),
    HorizonFault("JSON-RPC request timed out on sendTransaction, not applied", "rpc_error",
                 {"code": -32001, "match": "/rpc/sendTransaction", "count": 1}),
    HorizonFault("TRY_AGAIN_LATER under load", "rpc_try_again_later", {"count": 1}),
    HorizonFault("lagging node (getTransaction NOT_FOUND for recent ledgers)", "rpc_lagging_node",
                 {"ledgers": 3, "match": "/rpc/getTransaction", "count": 6}),
    # A share of the reads, not every one: re-armed every 5 s, a fault on every read failed each
    # pipeline run at its account check or fee bid for the whole load, so no submission met
    # the sendTransaction faults above (they fired 0 times).
    HorizonFault("JSON-RPC internal error on getLedgerEntries", "rpc_error",
                 {"match": "/rpc/getLedgerEntries", "count": 2, "probability": 0.15}),
    HorizonFault("JSON-RPC internal error on getFeeStats", "rpc_error",
                 {"match": "/rpc/getFeeStats", "count": 1, "probability": 0.15}),
    HorizonFault("JSON-RPC internal error on getTransaction", "rpc_error",
                 {"match": "/rpc/getTransaction", "count": 4, "probability": 0.3}),
)
# The streamer's faults over RPC: its getEvents polls (ANCHOR_NETWORK_API=rpc gives it the RPC
# source; a lagging node's getEvents does not see the latest ledgers yet).
HOSTILE_RPC_STREAMS = (
    HorizonFault("JSON-RPC internal error on getEvents", "rpc_error",
                 {"match": "/rpc/getEvents", "count": 3, "probability": 0.3}),
    HorizonFault("JSON-RPC request timed out on getEvents", "rpc_error",
                 {"code": -32001, "match": "/rpc/getEvents", "count": 1, "probability": 0.3}),
    HorizonFault("lagging node on getEvents", "rpc_lagging_node",
                 {"ledgers": 3, "match": "/rpc/getEvents", "count": 4, "probability": 0.3}),
)


@dataclass
class ChaosConfig:
    deposits: int
    withdrawals: int
    duration: float  # seconds of load and chaos
    drain_timeout: float
    worker_kill_every: float = 6.0
    streamer_kill_every: float = 25.0
    scheduler_kill_every: float = 20.0  # restarted within the minute: periodiq sends the tick again
    rabbit_restarts: int = 1
    postgres_restarts: int = 1
    processes: int = 2
    threads: int = 4
    payers: int = 4
    wallets: int = 8
    channels: int = 4  # channel accounts: submissions in parallel instead of racing for one sequence
    seed: int = 7
    claim_timeout: int = 30
    # Worker groups, one `dramatiq` master each, with these clock offsets (s); processes split among them.
    worker_clock_offsets: tuple[float, ...] = (-7.0, 7.0)
    scheduler_clock_offset: float = 3.0
    slow_payout_every: int = 15  # every Nth payout call outlasts the claim
    postgres_crashes_after_payout: int = 1  # PostgreSQL crashed right after a payout call
    network_api: str = "horizon"  # ANCHOR_NETWORK_API: the deposits' and channels' Stellar API

    @property
    def hostile(self) -> tuple[HorizonFault, ...]:
        """The network-side faults armed for this backend, and the streamer's."""
        if self.network_api == "rpc":
            return HOSTILE_RPC + HOSTILE_RPC_STREAMS
        return HOSTILE_HORIZON + HOSTILE_STREAMS

    @classmethod
    def ci(cls, network_api: str = "horizon") -> ChaosConfig:
        return cls(deposits=60, withdrawals=60, duration=60, drain_timeout=150, network_api=network_api)

    @classmethod
    def full(cls, network_api: str = "horizon") -> ChaosConfig:
        return cls(deposits=2000, withdrawals=2000, duration=600, drain_timeout=420, payers=8,
                   wallets=20, rabbit_restarts=3, streamer_kill_every=40, slow_payout_every=150,
                   postgres_crashes_after_payout=3, network_api=network_api)


@dataclass
class Report:
    config: dict[str, Any]
    load_seconds: float = 0.0
    faults: Counter = field(default_factory=Counter)
    drain_seconds: float | None = None
    double_payments: int = 0
    lost_payments: int = 0
    deposits_not_paid: list[str] = field(default_factory=list)
    deposits_paid_twice: list[str] = field(default_factory=list)
    withdrawal_payments_unrecorded: list[str] = field(default_factory=list)
    withdrawal_payments_recorded_twice: list[str] = field(default_factory=list)
    withdrawals_unmatched: list[str] = field(default_factory=list)
    payouts_by_calls: dict[str, int] = field(default_factory=dict)
    payouts_repeated: list[dict[str, Any]] = field(default_factory=list)  # rails called twice for one id
    not_terminal: dict[str, str] = field(default_factory=dict)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    dead_letters_unaccounted: int = 0
    submissions: dict[str, int] = field(default_factory=dict)
    doubled_ticks_skipped: int = 0

    def as_json(self) -> str:
        data = asdict(self)
        data["faults"] = dict(self.faults)
        return json.dumps(data, indent=2, sort_keys=True, default=str)


def db_retry(fn: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Run a database call from the driver, reconnecting while PostgreSQL restarts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            try:
                database.close()
            except Exception:  # noqa: BLE001 - the connection is already broken
                pass
            time.sleep(0.5)


def restart(start: Callable[[], None], attempts: int = 5) -> None:
    """Start a killed server again; retried, since its port may linger (or be briefly taken)."""
    for attempt in range(attempts):
        try:
            start()
            return
        except (RuntimeError, AssertionError, OSError, subprocess.CalledProcessError):
            if attempt == attempts - 1:
                raise
            time.sleep(5)


class Supervised:
    """A process kept running: restarted (after ``delay``) whenever it exits or is killed."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path,
                 delay: float = 0.5) -> None:
        self.name, self.argv, self.env, self.log_dir, self.delay = name, argv, env, log_dir, delay
        self.starts = 0
        self.process: Process | None = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True, name=f"supervise-{name}")

    def _spawn(self) -> None:
        self.starts += 1
        self.process = Process(self.argv, self.env, self.log_dir / f"{self.name}-{self.starts}.log")

    def start(self) -> Supervised:
        with self.lock:
            self._spawn()
        self.thread.start()
        return self

    def _watch(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                if self.process.popen.poll() is not None and not self.stopping.is_set():
                    self.process.kill()  # reap whatever the group left behind
                    time.sleep(self.delay)
                    self._spawn()
            time.sleep(0.2)

    def children(self) -> list[int]:
        pid = self.process.popen.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def kill_main(self) -> None:
        with self.lock:
            self.process.kill()

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob(f"{self.name}-*.log")))

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        with self.lock:
            if self.process.popen.poll() is None:
                self.process.popen.send_signal(signal.SIGTERM)
                try:
                    self.process.popen.wait(30)
                except Exception:  # noqa: BLE001 - then kill it
                    pass
            self.process.kill()


class ChaosRun:
    def __init__(self, cfg: ChaosConfig, sim: Simnet, db_url: str, broker_url: str, workdir: Path,
                 rabbit=None, postgres=None, secret_key: str = TEST_SECRET_KEY,
                 log_level: str = "INFO") -> None:
        self.cfg, self.sim, self.db_url, self.broker_url = cfg, sim, db_url, broker_url
        self.workdir, self.rabbit, self.postgres = workdir, rabbit, postgres
        self.secret_key, self.log_level = secret_key, log_level
        self.random = random.Random(cfg.seed)
        self.report = Report(config=asdict(cfg))
        self.deposits: dict[uuid.UUID, tuple[str, Decimal]] = {}  # id -> (destination, amount)
        self.withdrawals: dict[uuid.UUID, Decimal] = {}
        self.withdrawal_hashes: dict[uuid.UUID, str] = {}  # id -> Stellar hash of the user's payment
        self.supervised: dict[str, Supervised] = {}
        self.errors: list[str] = []
        self.rails_log = workdir / "rails.log"
        self.cli_output = ""
        self.crash_dir = workdir / "rails-crash"
        self.crash_dir.mkdir(exist_ok=True)

    # ------------------------------------------------------------------ setup

    def _envelope(self, source: Keypair, build: Callable[[TransactionBuilder], object],
                  signers: list[Keypair] | None = None) -> TransactionEnvelope:
        with Server(self.sim.url) as server:
            builder = TransactionBuilder(server.load_account(source.public_key), self.sim.passphrase, 100)
        build(builder)
        envelope = builder.set_timeout(120).build()
        for signer in signers or [source]:
            envelope.sign(signer)
        return envelope

    def _submit(self, source: Keypair, build: Callable[[TransactionBuilder], object],
                signers: list[Keypair] | None = None) -> str:
        envelope = self._envelope(source, build, signers)
        with Server(self.sim.url) as server:
            server.submit_transaction(envelope)
        return envelope.hash_hex()

    def setup_chain(self) -> None:
        self.issuer, self.distribution = Keypair.random(), Keypair.random()
        self.wallets = [Keypair.random() for _ in range(self.cfg.wallets)]
        self.payers = [Keypair.random() for _ in range(self.cfg.payers)]
        funder = self.sim.root_keypair
        everyone = [self.issuer, self.distribution, *self.wallets, *self.payers]
        for start in range(0, len(everyone), 50):
            self._submit(funder, lambda b, chunk=everyone[start:start + 50]: [
                b.append_create_account_op(kp.public_key, "1000") for kp in chunk])
        self.usd = SdkAsset("USD", self.issuer.public_key)
        holders = [self.distribution, *self.wallets, *self.payers]
        for start in range(0, len(holders), 15):  # at most 20 signatures per transaction
            chunk = holders[start:start + 15]
            self._submit(funder, lambda b, chunk=chunk: [
                b.append_change_trust_op(self.usd, source=kp.public_key) for kp in chunk],
                signers=[funder, *chunk])
        self._submit(self.issuer, lambda b: [
            b.append_payment_op(kp.public_key, self.usd, "1000000")
            for kp in [self.distribution, *self.payers]])
        asset, account = make_asset("USD", self.issuer.public_key, self.distribution.secret,
                                    significant_decimals=2)
        assert account == self.distribution.public_key
        self.asset = asset
        if self.cfg.channels:
            done = subprocess.run([sys.executable, "-m", "anchor_dramatiq.cli", "channels", "create",
                                   str(self.cfg.channels), "--asset", "USD"], env=self.env(), cwd=REPO,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            self.cli_output = done.stdout + done.stderr

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANCHOR_")}
        env.update({
            "ANCHOR_DATABASE_URL": self.db_url,
            "ANCHOR_BROKER_URL": self.broker_url,
            "ANCHOR_SECRET_KEY": self.secret_key,
            "ANCHOR_HORIZON_URL": self.sim.url,
            "ANCHOR_NETWORK_API": self.cfg.network_api,
            "ANCHOR_RPC_URL": f"{self.sim.url}/rpc",
            "ANCHOR_NETWORK_PASSPHRASE": self.sim.passphrase,
            "ANCHOR_RAILS": "reliability.rails:ChaosRails",
            "ANCHOR_SCHEDULE_POLL_PENDING_DEPOSITS": "5s",
            "ANCHOR_SCHEDULE_EXECUTE_OUTGOING": "10s",
            "ANCHOR_SCHEDULE_POLL_OUTGOING": "5s",
            "ANCHOR_SCHEDULE_CHECK_TRUSTLINES": "30s",
            "ANCHOR_SCHEDULE_MAINTENANCE": "10s",
            "ANCHOR_SCHEDULE_RECONCILE": "* * * * *",
            "ANCHOR_CLAIM_TIMEOUT": str(self.cfg.claim_timeout),
            "ANCHOR_HORIZON_TIMEOUT": "5",
            "ANCHOR_TX_TIMEOUT": "20",
            "ANCHOR_STREAM_SILENCE_TIMEOUT": "5",
            "ANCHOR_LOG_LEVEL": self.log_level,
            "ANCHOR_TEST_RAILS_LOG": str(self.rails_log),
            "ANCHOR_TEST_RAILS_SLOW_EVERY": str(self.cfg.slow_payout_every),
            "ANCHOR_TEST_RAILS_SLOW_SECONDS": str(self.cfg.claim_timeout + 10),
            "ANCHOR_TEST_RAILS_CRASH_DIR": str(self.crash_dir),
            "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)]),
            "PYTHONUNBUFFERED": "1",
            "TZ": "UTC",
            "dramatiq_prom_db": str(self.workdir / "prometheus"),
        })
        return env

    def start_processes(self, extra_env: dict[str, str] | None = None) -> None:
        purge_queues(self.broker_url)
        env = {**self.env(), **(extra_env or {})}
        groups = self.cfg.worker_clock_offsets
        per_group = max(1, self.cfg.processes // len(groups))
        workers = [bin_path("dramatiq"), "actors", "-p", str(per_group), "-t", str(self.cfg.threads),
                   "--worker-shutdown-timeout", "5000"]
        self.supervised = {
            f"workers-{n}": Supervised(f"workers-{n}", workers, skewed(env, offset), self.workdir,
                                       delay=0.5).start()
            for n, offset in enumerate(groups)
        }
        self.supervised["scheduler"] = Supervised(
            "scheduler", scheduler_argv(), skewed(env, self.cfg.scheduler_clock_offset), self.workdir,
            delay=1.0).start()
        self.supervised["streamer"] = Supervised(
            "streamer", [sys.executable, str(REPO / "streamer.py")], env, self.workdir, delay=0.5).start()

    def worker_groups(self) -> list[Supervised]:
        return [s for name, s in self.supervised.items() if name.startswith("workers-")]

    def worker_logs(self) -> str:
        return "".join(group.logs() for group in self.worker_groups())

    def stop_processes(self) -> None:
        for supervised in self.supervised.values():
            supervised.stop()

    # ------------------------------------------------------------------ load

    def _new_deposit(self, i: int) -> None:
        destination = self.wallets[i % len(self.wallets)].public_key
        amount = Decimal("1.00") + Decimal(i) / 100  # unique per deposit: its payment is recognisable
        transaction_id = uuid.uuid4()
        db_retry(lambda: Transaction.create(
            id=transaction_id, kind="deposit", protocol="sep24", status="pending_user_transfer_start",
            asset=self.asset, amount_expected=amount, stellar_account=destination, to_address=destination))
        self.deposits[transaction_id] = (destination, amount)

    def _new_withdrawal(self, i: int) -> tuple[uuid.UUID, str, Decimal]:
        amount = Decimal("2.00") + Decimal(i) / 100
        transaction_id, memo = uuid.uuid4(), f"cw-{i}"
        db_retry(lambda: Transaction.create(
            id=transaction_id, kind="withdrawal", protocol="sep24", status="pending_user_transfer_start",
            asset=self.asset, amount_expected=amount, memo=memo, memo_type="text",
            receiving_anchor_account=self.distribution.public_key,
            stellar_account=self.payers[i % len(self.payers)].public_key))
        self.withdrawals[transaction_id] = amount
        return transaction_id, memo, amount

    def _pay(self, payer: Keypair, transaction_id: uuid.UUID, memo: str, amount: Decimal) -> None:
        """The wallet pays the withdrawal once: one envelope, submitted asynchronously again
        (the same envelope) while no answer says it was admitted and it has not landed, as a
        careful wallet does under simnet's submission faults (a wallet that built a second
        envelope after a 504 would pay twice, and the anchor would rightly leave that one
        unmatched)."""
        envelope = None
        for attempt in range(20):
            try:
                if envelope is None:
                    envelope = self._envelope(payer, lambda b: (
                        b.append_payment_op(self.distribution.public_key, self.usd, str(amount)),
                        b.add_memo(TextMemo(memo))))
                if self.sim.transaction(envelope.hash_hex()) is not None:
                    break
                with Server(self.sim.url) as server:
                    server.submit_transaction_async(envelope)
                break
            except Exception as exc:  # noqa: BLE001 - TRY_AGAIN_LATER, 429, 504 and the like: try again
                if attempt == 19:
                    self.errors.append(f"withdrawal {transaction_id}: payment not submitted: {exc}")
                    return
                time.sleep(0.3)
        assert envelope is not None
        tx_hash = envelope.hash_hex()
        deadline = time.monotonic() + 30
        while self.sim.transaction(tx_hash) is None:
            if time.monotonic() > deadline:
                self.errors.append(f"withdrawal {transaction_id}: payment {tx_hash} never applied")
                return
            time.sleep(0.1)
        self.withdrawal_hashes[transaction_id] = tx_hash

    def _payer_loop(self, index: int, work: queue.Queue) -> None:
        while (item := work.get()) is not None:
            self._pay(self.payers[index], *item)

    def run_load(self) -> None:
        """Create deposits and withdrawals at a steady rate over ``duration``; withdrawals get paid."""
        total = self.cfg.deposits + self.cfg.withdrawals
        interval = self.cfg.duration / max(total, 1)
        work = [queue.Queue() for _ in self.payers]
        payer_threads = [threading.Thread(target=self._payer_loop, args=(n, w), daemon=True)
                         for n, w in enumerate(work)]
        for thread in payer_threads:
            thread.start()
        kinds = ["deposit"] * self.cfg.deposits + ["withdrawal"] * self.cfg.withdrawals
        self.random.shuffle(kinds)
        counts: Counter = Counter()
        started = time.monotonic()
        for n, kind in enumerate(kinds):
            time.sleep(max(0.0, started + n * interval - time.monotonic()))
            i = counts[kind]
            counts[kind] += 1
            if kind == "deposit":
                self._new_deposit(i)
            else:
                work[i % len(work)].put(self._new_withdrawal(i))
        for w in work:
            w.put(None)
        for thread in payer_threads:
            thread.join()
        self.report.load_seconds = round(time.monotonic() - started, 1)

    # ------------------------------------------------------------------ chaos

    def run_chaos(self, until: Callable[[], bool]) -> None:
        """Break things until ``until()``; counts every fault by kind."""
        cfg, faults = self.cfg, self.report.faults
        start = time.monotonic()
        next_worker = start + cfg.worker_kill_every
        next_streamer = start + cfg.streamer_kill_every / 2
        next_scheduler = start + cfg.scheduler_kill_every
        rabbit_at = [start + cfg.duration * (k + 1) / (cfg.rabbit_restarts + 1)
                     for k in range(cfg.rabbit_restarts)]
        postgres_at = [start + cfg.duration * (k + 1.5) / (cfg.postgres_restarts + 1.5)
                       for k in range(cfg.postgres_restarts)]
        # Armed at the start of each share of the run and left armed until a payout call takes
        # it: payouts come in bursts (after a recovery, a batch of matches), so arming late in
        # the window could miss them all.
        after_payout_at = [start + 5 + cfg.duration * k / cfg.postgres_crashes_after_payout
                           for k in range(cfg.postgres_crashes_after_payout)]
        self.armed: Counter = Counter()
        self.armed_ids: dict[int, str] = {}
        next_sim = start + 3
        while not until():
            now = time.monotonic()
            if now >= next_worker:
                children = [pid for group in self.worker_groups() for pid in group.children()]
                if children:
                    os.kill(self.random.choice(children), signal.SIGKILL)
                    faults["worker process SIGKILLed"] += 1
                next_worker = now + cfg.worker_kill_every * self.random.uniform(0.6, 1.4)
            if now >= next_streamer:
                self.supervised["streamer"].kill_main()
                faults["streamer SIGKILLed"] += 1
                next_streamer = now + cfg.streamer_kill_every * self.random.uniform(0.6, 1.4)
            if now >= next_scheduler:
                self.supervised["scheduler"].kill_main()
                faults["periodiq scheduler SIGKILLed"] += 1
                next_scheduler = now + cfg.scheduler_kill_every * self.random.uniform(0.6, 1.4)
            if rabbit_at and now >= rabbit_at[0] and self.rabbit is not None:
                rabbit_at.pop(0)
                self.rabbit.kill()
                time.sleep(3)
                restart(self.rabbit.start)
                faults["RabbitMQ killed and restarted"] += 1
            if postgres_at and now >= postgres_at[0] and self.postgres is not None:
                postgres_at.pop(0)
                self.postgres.stop("immediate")
                time.sleep(2)
                restart(self.postgres.start)
                faults["PostgreSQL crashed (immediate) and restarted"] += 1
            if after_payout_at and now >= after_payout_at[0] and self.postgres is not None:
                after_payout_at.pop(0)
                (self.crash_dir / "armed").touch()
            if (self.crash_dir / "crash-now").exists() and self.postgres is not None:
                self.postgres.stop("immediate")  # the payout call has returned; its result is unsaved
                (self.crash_dir / "crash-now").unlink()
                time.sleep(2)
                restart(self.postgres.start)
                faults["PostgreSQL crashed right after a payout call"] += 1
            if now >= next_sim:
                self._arm()
                next_sim = now + 5
            time.sleep(0.05)
        (self.crash_dir / "armed").unlink(missing_ok=True)

    def _arm(self) -> None:
        """Re-arm every hostile-Horizon fault whose previous arming has been used up."""
        present = {f["id"] for f in self.sim.faults()}
        live = {name for fault_id, name in self.armed_ids.items() if fault_id in present}
        for fault in self.cfg.hostile:
            if fault.name in live:
                continue
            self.armed_ids[self.sim.add_fault(fault.kind, **fault.params)] = fault.name
            self.armed[fault.name] += fault.params["count"]

    def disarm(self) -> None:
        """Stop injecting; count the simnet faults that fired (armed minus still waiting)."""
        left: Counter = Counter()
        for fault in self.sim.faults():
            left[self.armed_ids.get(fault["id"], fault["kind"])] += fault["count"] or 0
        self.sim.clear_faults()
        for name, armed in self.armed.items():
            self.report.faults[f"simnet: {name}"] += armed - left[name]

    # ------------------------------------------------------------------ drain and verify

    def drained(self) -> bool:
        ids = list(self.deposits) + list(self.withdrawals)

        def pending() -> int:
            return (Transaction.select().where(Transaction.id.in_(ids) & (Transaction.status != TERMINAL))
                    .count())

        return db_retry(pending) == 0

    def wait_drained(self) -> None:
        started = time.monotonic()
        deadline = started + self.cfg.drain_timeout
        while time.monotonic() < deadline:
            if self.drained():
                self.report.drain_seconds = round(time.monotonic() - started, 1)
                return
            time.sleep(1)

    def dead_letters(self) -> list[dict[str, Any]]:
        connection = pika.BlockingConnection(pika.URLParameters(self.broker_url))
        found = []
        try:
            channel = connection.channel()
            for queue in queue_names():
                try:
                    channel.queue_declare(f"{queue}.XQ", passive=True)
                except pika.exceptions.ChannelClosedByBroker:
                    channel = connection.channel()
                    continue
                while True:
                    method, _, body = channel.basic_get(f"{queue}.XQ")
                    if method is None:
                        break
                    try:
                        data = json.loads(body)
                        found.append({"queue": queue, "actor": data.get("actor_name"),
                                      "args": data.get("args")})
                    except ValueError:
                        found.append({"queue": queue, "actor": None, "args": [body.decode(errors="replace")]})
        finally:
            connection.close()  # unacked: the dead letters stay for an operator
        return found

    def verify(self) -> Report:
        report = self.report
        database.close()
        # Deposits: exactly one successful payment op of exactly its amount to its wallet.
        key = f"USD:{self.issuer.public_key}"
        paid: Counter = Counter()
        for wallet in self.wallets:
            for op in self.sim.payments(wallet.public_key):
                if op["to"] == wallet.public_key and op["asset"] == key and op["successful"]:
                    paid[(wallet.public_key, Decimal(op["amount"]))] += 1
        expected = {(dest, amount) for dest, amount in self.deposits.values()}
        for transaction_id, (destination, amount) in self.deposits.items():
            count = paid[(destination, amount)]
            if count == 0:
                report.deposits_not_paid.append(str(transaction_id))
            elif count > 1:
                report.deposits_paid_twice.append(str(transaction_id))
        stray = sum(n for k, n in paid.items() if k not in expected)
        for wallet in self.wallets:
            want = sum((a for d, a in self.deposits.values() if d == wallet.public_key), Decimal(0))
            if self.sim.balance(wallet.public_key, self.usd) != want:
                report.deposits_paid_twice.append(f"wallet {wallet.public_key} balance differs by "
                                                  f"{self.sim.balance(wallet.public_key, self.usd) - want}")
        # Withdrawals: each user payment recorded once, matched once, to its withdrawal.
        rows = {p.transaction_hash: p for p in Payment.select()}
        by_hash = Counter(p.transaction_hash for p in Payment.select())
        for transaction_id, tx_hash in self.withdrawal_hashes.items():
            payment = rows.get(tx_hash)
            if payment is None:
                report.withdrawal_payments_unrecorded.append(str(transaction_id))
                continue
            if by_hash[tx_hash] > 1:
                report.withdrawal_payments_recorded_twice.append(str(transaction_id))
            if payment.outcome != "matched" or payment.transaction_id != transaction_id:
                report.withdrawals_unmatched.append(f"{transaction_id}: {payment.outcome} {payment.reason}")
        if self.cfg.network_api == "rpc":  # the streamer's RPC source (and the sweep) read them all
            self.errors += [f"payment {p.operation_id} read from Horizon (paging token {p.paging_token})"
                            for p in Payment.select() if not is_event_id(p.paging_token)]
        matched = Payment.select().where(Payment.outcome == "matched")
        matched_twice = Counter(p.transaction_id for p in matched)
        report.withdrawals_unmatched += [f"{t}: matched by {n} payments"
                                         for t, n in matched_twice.items() if n > 1]
        for transaction_id in self.withdrawals:
            if transaction_id not in self.withdrawal_hashes:
                report.withdrawals_unmatched.append(f"{transaction_id}: the wallet's payment did not land")
        # Payouts: the counting rails' log, one line per call.
        per_id = Counter(calls(self.rails_log))
        if self.cfg.slow_payout_every:  # ChaosRails makes every Nth call of its log slow
            slow = sum(per_id.values()) // self.cfg.slow_payout_every
            report.faults["payout call outlasting the claim"] = slow
        report.payouts_by_calls = {str(n): c for n, c in sorted(Counter(per_id.values()).items())}
        callers: dict[str, list[int]] = {}
        for line in self.rails_log.read_text().splitlines() if self.rails_log.exists() else []:
            transaction_id, pid = line.split()
            callers.setdefault(transaction_id, []).append(int(pid))
        # Once ever: a payout call that may have reached the bank is never made again, whatever died.
        report.payouts_repeated = [{"transaction": t, "calls": n, "pids": callers[t]}
                                   for t, n in per_id.items() if n > 1]
        missing_payouts = [str(t) for t in self.withdrawals if str(t) not in per_id]
        # Every transaction terminal.
        ids = list(self.deposits) + list(self.withdrawals)
        unfinished = Transaction.select().where(Transaction.id.in_(ids) & (Transaction.status != TERMINAL))
        report.not_terminal = {str(t.id): f"{t.kind} {t.status} {t.submission_status} {t.status_message}"
                               for t in unfinished}
        # Dead letters: each must name a row that nonetheless reached its end.
        report.dead_letters = self.dead_letters()
        for letter in report.dead_letters:
            if not self._accounted(letter):
                report.dead_letters_unaccounted += 1
        report.submissions = dict(Counter(s.state for s in Submission.select()))
        report.double_payments = (len(report.deposits_paid_twice) + stray + len(report.payouts_repeated)
                                  + len(report.withdrawal_payments_recorded_twice))
        report.lost_payments = (len(report.deposits_not_paid) + len(report.withdrawal_payments_unrecorded)
                                + len(report.withdrawals_unmatched) + len(missing_payouts))
        (self.workdir / "report.json").write_text(report.as_json())
        return report

    def _accounted(self, letter: dict[str, Any]) -> bool:
        args = letter.get("args") or []
        if letter.get("actor") in ("submit_deposit", "execute_outgoing") and args:
            row = Transaction.get_or_none(Transaction.id == uuid.UUID(str(args[0])))
            return row is not None and row.status == TERMINAL
        if letter.get("actor") == "settle_deposit_batch" and args:  # its deposits reached their end
            items = SubmissionItem.select().where(SubmissionItem.submission == int(args[0]))
            return all(Transaction.get_by_id(item.transaction_id).status == TERMINAL for item in items)
        if letter.get("actor") == "process_payment" and args:
            row = Payment.get_or_none(Payment.operation_id == str(args[0]))
            return row is not None and row.outcome != "pending"
        return letter.get("actor", "").endswith("_tick") or letter.get("actor") in (
            "poll_pending_deposits", "resume_deposits", "check_trustlines", "execute_outgoing_transactions",
            "poll_outgoing_transactions", "reconcile_payments", "publish_pending_payments", "prune_job_runs",
            "pay_ready_deposits")  # a nudge to fill a channel; the deposits' own checks say the rest

    def run(self, after_setup: Callable[[], dict[str, str]] | None = None,
            before_stop: Callable[[], None] | None = None) -> Report:
        """Setup, processes, load with chaos, drain, verify; processes are stopped on return.

        ``after_setup`` may return extra environment for the processes; ``before_stop`` runs
        once drained, with the processes still up."""
        self.setup_chain()
        self.start_processes(after_setup() if after_setup else None)
        load = threading.Thread(target=self._load_guarded, daemon=True, name="load")
        try:
            self.supervised["streamer"].process.wait_for_log("streaming payments of", 60)
            load.start()
            self.run_chaos(until=lambda: not load.is_alive())
            load.join()
            self.disarm()
            self.wait_drained()
            if before_stop:
                before_stop()
        finally:
            self.stop_processes()
        report = self.verify()
        report.faults["dramatiq master restarted (by the supervisor)"] = sum(
            group.starts - 1 for group in self.worker_groups())
        report.faults["streamer restarted (by the supervisor)"] = self.supervised["streamer"].starts - 1
        report.faults["periodiq restarted (by the supervisor)"] = self.supervised["scheduler"].starts - 1
        report.doubled_ticks_skipped = self.worker_logs().count("skipping the doubled tick")
        (self.workdir / "report.json").write_text(report.as_json())
        return report

    def _load_guarded(self) -> None:
        try:
            self.run_load()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(f"load thread: {type(exc).__name__}: {exc}")


def skewed(env: dict[str, str], offset: float) -> dict[str, str]:
    """``env`` for a process whose wall clock is ``offset`` seconds off the host's."""
    if not offset:
        return env
    return {**env, "ANCHOR_TEST_CLOCK_OFFSET": f"{offset:+g}",
            "PYTHONPATH": os.pathsep.join([str(SKEWED_CLOCK), env["PYTHONPATH"]])}
