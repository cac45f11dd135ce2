"""The simulated validator: transaction queue, ledger closes, surge pricing, friendbot.

Everything here runs on the server's event loop (no locks). A submission is admitted into the
queue (one transaction per source account, as core's queue), and every ``ledger_interval``
seconds the highest bidders that fit in ``ledger_capacity`` operations are applied; when some
do not fit, the ledger's base fee rises to the lowest included bid (surge pricing).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from dataclasses import dataclass, field

from stellar_sdk import Account as SdkAccount
from stellar_sdk import Keypair, TransactionBuilder, xdr

from . import envelopes, strkeys
from .assets import muxed
from .envelopes import Envelope
from .history import History, LedgerRecord, OpRecord, TxRecord
from .ledger import BASE_RESERVE, LedgerState
from .operations import ApplyContext, apply_op, new_account, op_source, participants
from .rates import RateTable
from .results import TxCode, fee_bump_result, is_success, op_succeeded, tx_result
from .txvalidate import admit, min_fee, seq_ok, still_valid
from .units import STROOPS_PER_UNIT, amount_str, toid

STANDALONE_PASSPHRASE = "Standalone Network ; February 2017"
TOTAL_COINS = 100_000_000_000 * STROOPS_PER_UNIT
FRIENDBOT_STARTING_BALANCE = 10_000 * STROOPS_PER_UNIT
QUEUE_MULTIPLIER = 4  # core keeps up to this many ledgers' worth of operations queued
PROTOCOL_VERSION = 23  # CAP-67 unified events (served by /rpc) exist from protocol 23

PENDING, DUPLICATE, TRY_AGAIN_LATER, ERROR = "PENDING", "DUPLICATE", "TRY_AGAIN_LATER", "ERROR"


@dataclass
class Admission:
    """Core's answer to a submission."""

    status: str
    error: xdr.TransactionResult | None = None


@dataclass
class Pending:
    """A hash some client waits on (Horizon's open submission list)."""

    env: Envelope
    since: float
    future: asyncio.Future = field(repr=False)


@dataclass
class Queued:
    env: Envelope
    arrival: int

    @property
    def rate(self) -> float:
        return self.env.max_fee / self.env.fee_ops


class Network:
    """State, queue and history of one simulated network."""

    def __init__(self, *, passphrase: str = STANDALONE_PASSPHRASE, ledger_interval: float = 1.0,
                 ledger_capacity: int = 1000, base_fee: int = 100,
                 base_reserve: int = BASE_RESERVE) -> None:
        self.passphrase = passphrase
        self.ledger_interval = ledger_interval
        self.ledger_capacity = ledger_capacity
        self.base_fee = base_fee
        self.state = LedgerState(base_reserve)
        self.history = History()
        self.rates = RateTable()
        self.root = Keypair.from_raw_ed25519_seed(envelopes.network_id(passphrase))
        self.friendbot_keypair = Keypair.from_raw_ed25519_seed(
            hashlib.sha256(b"simnet friendbot " + passphrase.encode()).digest())
        self.queue: dict[str, Queued] = {}  # by sequence source account
        self.queued_hashes: dict[str, str] = {}  # hash -> source account
        self.queued_ops = 0
        self.pending: dict[str, Pending] = {}
        self._arrivals = 0
        self._friend_requests: list[tuple[str, int, asyncio.Future]] = []
        self._friend_batch: list[asyncio.Future] = []
        self._closed = asyncio.get_running_loop().create_future()
        self._genesis()

    # --- ledger ---------------------------------------------------------------------------

    def _genesis(self) -> None:
        now = int(time.time())
        friend_balance = TOTAL_COINS // 2
        root = new_account(self.root.public_key, TOTAL_COINS - friend_balance, 1, now)
        root.seq = 0
        self.state.add_account(root)
        friend = new_account(self.friendbot_keypair.public_key, friend_balance, 1, now)
        friend.seq = 0
        self.state.add_account(friend)
        self.history.add_ledger(self._ledger_record(1, "0" * 64, now, [], 0, self.base_fee, 0))

    @property
    def latest_ledger(self) -> int:
        return self.history.latest.sequence

    @property
    def now(self) -> int:
        """Close time the next ledger will (at least) have."""
        return max(int(time.time()), self.history.latest.closed_at)

    async def wait_for_ledger(self, timeout: float) -> bool:
        """Wait for the next ledger close; False on timeout."""
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), timeout)
            return True
        except TimeoutError:
            return False

    async def run(self) -> None:
        """Close ledgers forever at a steady cadence."""
        loop = asyncio.get_running_loop()
        next_close = loop.time() + self.ledger_interval
        while True:
            await asyncio.sleep(max(0.0, next_close - loop.time()))
            self.close_ledger()
            next_close = max(next_close + self.ledger_interval, loop.time())

    def close_ledger(self) -> LedgerRecord:
        """Select, apply and record the next ledger's transactions."""
        seq = self.latest_ledger + 1
        close_time = self.now
        chosen, surge = self._select()
        base = min((q.rate for q in chosen), default=self.base_fee) if surge else self.base_fee
        base = max(self.base_fee, int(base))
        records: list[TxRecord] = []
        friend = self._friendbot_envelope(seq)
        order = 1
        if friend is not None:
            records.append(self._apply(friend, seq, order, close_time, self.base_fee))
            order += 1
        for q in chosen:
            self._unqueue(q.env)
            code = still_valid(q.env, self.state, close_time)
            if code is not None:
                self._resolve(q.env.hash_hex, tx_result(0, code))
                continue
            records.append(self._apply(q.env, seq, order, close_time, base))
            order += 1
        prev = self.history.latest
        fee_pool = prev.fee_pool + sum(r.fee_charged for r in records)
        ledger = self._ledger_record(seq, prev.hash, close_time, records, fee_pool, base,
                                     sum(len(r.env.ops) for r in records))
        self.history.add_ledger(ledger)
        for rec in records:
            self.history.add_transaction(rec)
            self._resolve(rec.env.hash_hex, rec)
        self._settle_friendbot(friend)
        self._check_waiters()
        done, self._closed = self._closed, asyncio.get_running_loop().create_future()
        done.set_result(seq)
        return ledger

    def _select(self) -> tuple[list[Queued], bool]:
        """Highest fee rate first (then arrival) until the ledger's operation capacity."""
        ranked = sorted(self.queue.values(), key=lambda q: (-q.rate, q.arrival))
        chosen, ops, surge = [], 0, False
        for q in ranked:
            n = len(q.env.ops)
            if ops + n > self.ledger_capacity:
                surge = True
                continue
            chosen.append(q)
            ops += n
        chosen.sort(key=lambda q: q.arrival)
        return chosen, surge

    def _ledger_record(self, seq: int, prev_hash: str, close_time: int, records: list[TxRecord],
                       fee_pool: int, base_fee: int, ops: int) -> LedgerRecord:
        header = xdr.LedgerHeader(
            ledger_version=xdr.Uint32(PROTOCOL_VERSION),
            previous_ledger_hash=xdr.Hash(bytes.fromhex(prev_hash)),
            scp_value=xdr.StellarValue(
                tx_set_hash=xdr.Hash(hashlib.sha256(
                    b"".join(r.env.hash for r in records)).digest()),
                close_time=xdr.TimePoint(xdr.Uint64(close_time)),
                upgrades=[], ext=xdr.StellarValueExt(xdr.StellarValueType.STELLAR_VALUE_BASIC)),
            tx_set_result_hash=xdr.Hash(hashlib.sha256(
                b"".join(base64.b64decode(r.result_xdr) for r in records)).digest()),
            bucket_list_hash=xdr.Hash(bytes(32)),
            ledger_seq=xdr.Uint32(seq),
            total_coins=xdr.Int64(TOTAL_COINS),
            fee_pool=xdr.Int64(fee_pool),
            inflation_seq=xdr.Uint32(0),
            id_pool=xdr.Uint64(0),
            base_fee=xdr.Uint32(base_fee),
            base_reserve=xdr.Uint32(self.state.base_reserve),
            max_tx_set_size=xdr.Uint32(self.ledger_capacity),
            skip_list=[xdr.Hash(bytes(32))] * 4,
            ext=xdr.LedgerHeaderExt(0),
        )
        raw = header.to_xdr_bytes()
        ok = sum(1 for r in records if r.successful)
        return LedgerRecord(
            sequence=seq, hash=hashlib.sha256(raw).hexdigest(), prev_hash=prev_hash,
            closed_at=close_time, successful_transaction_count=ok,
            failed_transaction_count=len(records) - ok,
            operation_count=sum(len(r.env.ops) for r in records if r.successful),
            tx_set_operation_count=ops, base_fee=base_fee,
            base_reserve=self.state.base_reserve, max_tx_set_size=self.ledger_capacity,
            total_coins=TOTAL_COINS, fee_pool=fee_pool, header_xdr=base64.b64encode(raw).decode(),
        )

    def _apply(self, env: Envelope, seq: int, order: int, close_time: int,
               base_fee: int) -> TxRecord:
        """Charge the fee, consume the sequence number, apply all operations or none."""
        st = self.state
        fee = min(env.max_fee, base_fee * env.fee_ops)
        fee_source = st.mut(env.fee_source)
        charged = min(fee, fee_source.balance)
        fee_source.balance -= charged
        source = st.mut(env.source)
        source.seq = env.seq
        source.seq_ledger, source.seq_time = seq, close_time
        source.last_modified_ledger, source.last_modified_time = seq, close_time
        ctx = ApplyContext(state=st, rates=self.rates, ledger_seq=seq, close_time=close_time,
                           tx_source=strkeys.xdr_account_id(env.source), tx_seq=env.seq)
        tx_id = toid(seq, order)
        st.begin()
        applied = []
        for i, op in enumerate(env.ops, 1):
            applied.append(apply_op(ctx, op, op_source(op, env.source), i))
        ok = all(op_succeeded(a.result) for a in applied)
        if ok:
            st.commit()
        else:
            st.rollback()
        result = tx_result(0 if env.is_fee_bump else charged,
                           TxCode.txSUCCESS if ok else TxCode.txFAILED,
                           [a.result for a in applied])
        if env.is_fee_bump:
            result = fee_bump_result(charged, env.inner_hash, result)
        record = TxRecord(
            id=tx_id, env=env, ledger=seq, closed_at=close_time, result_xdr=result.to_xdr(),
            fee_charged=charged, successful=is_success(result),
            participants={env.source, env.fee_source},
        )
        for i, (op, a) in enumerate(zip(env.ops, applied, strict=True), 1):
            src = op_source(op, env.source)
            if op.source_account is not None:
                _, src_m, src_id = muxed(op.source_account)
            else:
                src_m, src_id = env.source_muxed, env.source_muxed_id
            who = participants(op, src)
            record.participants |= who
            record.operations.append(OpRecord(
                id=tx_id + i, tx=record, op=op, source=src, source_muxed=src_m,
                source_muxed_id=src_id, extra=a.extra, participants=who))
        return record

    # --- submissions ----------------------------------------------------------------------

    def lookup(self, tx_hash: str) -> TxRecord | None:
        """An applied transaction by outer or inner hash."""
        return self.history.by_hash.get(tx_hash.lower())

    def submit(self, env: Envelope) -> Admission:
        """Core's reception of a transaction: PENDING, DUPLICATE, TRY_AGAIN_LATER or ERROR."""
        if env.hash_hex in self.queued_hashes or (
                env.inner_hash is not None and env.inner_hash.hex() in self.queued_hashes):
            return self._maybe_replace(env)
        queued = self.queue.get(env.source)
        if queued is not None:
            return self._maybe_replace(env) if queued.env.tx_hash == env.tx_hash else (
                Admission(TRY_AGAIN_LATER))
        error = admit(env, self.state, self.now, self.latest_ledger + 1, self.base_fee)
        if error is not None:
            return Admission(ERROR, error)
        if not self._make_room(env):
            return Admission(ERROR, tx_result(self._queue_floor(env), TxCode.txINSUFFICIENT_FEE))
        self._enqueue(env)
        return Admission(PENDING)

    def _maybe_replace(self, env: Envelope) -> Admission:
        """Same transaction again: DUPLICATE, unless a fee bump bids 10x (replace-by-fee)."""
        current = self.queue.get(env.source)
        if current is None or current.env.hash == env.hash:
            return Admission(DUPLICATE)
        if env.max_fee / env.fee_ops < 10 * current.rate:
            return Admission(ERROR, tx_result(min_fee(env, self.base_fee),
                                              TxCode.txINSUFFICIENT_FEE))
        error = admit(env, self.state, self.now, self.latest_ledger + 1, self.base_fee)
        if error is not None:
            return Admission(ERROR, error)
        self._unqueue(current.env)
        self._enqueue(env)
        return Admission(PENDING)

    def _enqueue(self, env: Envelope) -> None:
        self._arrivals += 1
        self.queue[env.source] = Queued(env, self._arrivals)
        self.queued_ops += len(env.ops)
        self.queued_hashes[env.hash_hex] = env.source
        if env.inner_hash is not None:
            self.queued_hashes[env.inner_hash.hex()] = env.source

    def _unqueue(self, env: Envelope) -> None:
        if self.queue.pop(env.source, None) is not None:
            self.queued_ops -= len(env.ops)
        self.queued_hashes.pop(env.hash_hex, None)
        if env.inner_hash is not None:
            self.queued_hashes.pop(env.inner_hash.hex(), None)

    def _queue_floor(self, env: Envelope) -> int:
        lowest = min((q.rate for q in self.queue.values()), default=self.base_fee)
        return (int(lowest) + 1) * env.fee_ops

    def _make_room(self, env: Envelope) -> bool:
        """Core's queue limit: evict lower bidders for a higher one, else refuse."""
        need = self.queued_ops + len(env.ops) - self.ledger_capacity * QUEUE_MULTIPLIER
        if need <= 0:
            return True
        rate = env.max_fee / env.fee_ops
        victims, freed = [], 0
        for q in sorted(self.queue.values(), key=lambda q: (q.rate, -q.arrival)):
            if freed >= need or q.rate >= rate:
                break
            victims.append(q)
            freed += len(q.env.ops)
        if freed < need:
            return False
        for q in victims:
            self._unqueue(q.env)
        return True

    def watch(self, env: Envelope) -> asyncio.Future:
        """Future resolved with the TxRecord, an error TransactionResult, or never."""
        entry = self.pending.get(env.hash_hex)
        if entry is None:
            entry = Pending(env, time.monotonic(), asyncio.get_running_loop().create_future())
            self.pending[env.hash_hex] = entry
        return entry.future

    def first_seen(self, tx_hash: str) -> float | None:
        entry = self.pending.get(tx_hash)
        return entry.since if entry else None

    def forget(self, tx_hash: str) -> None:
        """Drop an open submission once its waiter gave up (Horizon's 30 s timeout)."""
        self.pending.pop(tx_hash, None)

    def _resolve(self, tx_hash: str, outcome: TxRecord | xdr.TransactionResult) -> None:
        entry = self.pending.pop(tx_hash, None)
        if entry is not None and not entry.future.done():
            entry.future.set_result(outcome)

    def _check_waiters(self) -> None:
        """Horizon's tick: a pending hash whose sequence number got used elsewhere is bad_seq."""
        for tx_hash, entry in list(self.pending.items()):
            if tx_hash in self.queued_hashes:
                continue
            source = self.state.account(entry.env.source)
            if source is not None and source.seq >= entry.env.seq and not seq_ok(
                    entry.env, source):
                self._resolve(tx_hash, tx_result(min_fee(entry.env, self.base_fee),
                                                 TxCode.txBAD_SEQ))

    # --- friendbot --------------------------------------------------------------------------

    def friendbot(self, address: str,
                  amount: int = FRIENDBOT_STARTING_BALANCE) -> asyncio.Future:
        """Queue a create_account from the friendbot account; resolves with its TxRecord."""
        future = asyncio.get_running_loop().create_future()
        self._friend_requests.append((address, amount, future))
        return future

    def _friendbot_envelope(self, seq: int) -> Envelope | None:
        """One transaction of up to 100 create_account operations per ledger."""
        batch, seen = [], set()
        while self._friend_requests and len(batch) < 100:
            address, amount, future = self._friend_requests.pop(0)
            if address in seen or self.state.account(address) is not None:
                if not future.done():
                    future.set_exception(FriendbotError(address))
                continue
            seen.add(address)
            batch.append((address, amount, future))
        if not batch:
            return None
        kp = self.friendbot_keypair
        account = self.state.account(kp.public_key)
        builder = TransactionBuilder(SdkAccount(kp.public_key, account.seq), self.passphrase,
                                     base_fee=self.base_fee)
        for address, amount, _ in batch:
            builder.append_create_account_op(address, amount_str(amount))
        tx = builder.add_time_bounds(0, 0).build()
        tx.sign(kp)
        env = envelopes.decode(tx.to_xdr(), self.passphrase)
        self._friend_batch = [f for _, _, f in batch]
        return env

    def _settle_friendbot(self, env: Envelope | None) -> None:
        if env is None:
            return
        record = self.lookup(env.hash_hex)
        for future in self._friend_batch:
            if not future.done():
                future.set_result(record)
        self._friend_batch = []


class FriendbotError(Exception):
    """The address is already funded (or was asked for twice in one ledger)."""
