"""What Horizon's history database holds: closed ledgers, transactions and operations.

Records are appended in TOID order, so every list here is sorted by paging token and a page is
a binary search plus a slice; per-account indexes make account endpoints and streams cheap.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

from stellar_sdk import xdr

from .envelopes import Envelope
from .units import toid

PAYMENT_TYPES = frozenset({
    xdr.OperationType.CREATE_ACCOUNT,
    xdr.OperationType.PAYMENT,
    xdr.OperationType.PATH_PAYMENT_STRICT_RECEIVE,
    xdr.OperationType.PATH_PAYMENT_STRICT_SEND,
    xdr.OperationType.ACCOUNT_MERGE,
})


@dataclass
class LedgerRecord:
    """One closed ledger."""

    sequence: int
    hash: str
    prev_hash: str
    closed_at: int
    successful_transaction_count: int
    failed_transaction_count: int
    operation_count: int
    tx_set_operation_count: int
    base_fee: int
    base_reserve: int
    max_tx_set_size: int
    total_coins: int
    fee_pool: int
    header_xdr: str

    @property
    def id(self) -> int:
        return toid(self.sequence)


@dataclass
class TxRecord:
    """An applied transaction (successful or failed in its ledger)."""

    id: int
    env: Envelope
    ledger: int
    closed_at: int
    result_xdr: str
    fee_charged: int
    successful: bool
    participants: set[str]
    operations: list[OpRecord] = field(default_factory=list)

    @property
    def result(self) -> xdr.TransactionResult:
        """Decoded from ``result_xdr`` when asked (rarely): history keeps fewer objects for
        the garbage collector to walk."""
        return xdr.TransactionResult.from_xdr(self.result_xdr)


@dataclass
class OpRecord:
    """One operation of an applied transaction."""

    id: int
    tx: TxRecord
    op: xdr.Operation
    source: str
    source_muxed: str | None
    source_muxed_id: int | None
    extra: dict[str, object]
    participants: set[str]

    @property
    def is_payment(self) -> bool:
        return self.op.body.type in PAYMENT_TYPES


def _after(records: list, cursor: int) -> int:
    return bisect.bisect_right(records, cursor, key=lambda r: r.id)


def _before(records: list, cursor: int) -> int:
    return bisect.bisect_left(records, cursor, key=lambda r: r.id)


def page(records: list, cursor: int | None, descending: bool, limit: int,
         include_failed: bool = True) -> list:
    """Records strictly after (or before, descending) ``cursor``, at most ``limit``."""
    out: list = []
    if descending:
        i = len(records) if cursor is None else _before(records, cursor)
        while i > 0 and len(out) < limit:
            i -= 1
            if include_failed or _successful(records[i]):
                out.append(records[i])
    else:
        i = 0 if cursor is None else _after(records, cursor)
        while i < len(records) and len(out) < limit:
            if include_failed or _successful(records[i]):
                out.append(records[i])
            i += 1
    return out


def _successful(record: TxRecord | OpRecord) -> bool:
    return record.successful if isinstance(record, TxRecord) else record.tx.successful


class History:
    """Append-only store with the indexes Horizon's endpoints need."""

    def __init__(self) -> None:
        self.ledgers: list[LedgerRecord] = []
        self.transactions: list[TxRecord] = []
        self.operations: list[OpRecord] = []
        self.payments: list[OpRecord] = []
        self.by_hash: dict[str, TxRecord] = {}
        self.op_by_id: dict[int, OpRecord] = {}
        self.account_txs: dict[str, list[TxRecord]] = defaultdict(list)
        self.account_ops: dict[str, list[OpRecord]] = defaultdict(list)
        self.account_payments: dict[str, list[OpRecord]] = defaultdict(list)

    @property
    def latest(self) -> LedgerRecord:
        return self.ledgers[-1]

    def add_ledger(self, record: LedgerRecord) -> None:
        self.ledgers.append(record)

    def add_transaction(self, tx: TxRecord) -> None:
        """Index a transaction and its operations (call in TOID order)."""
        self.transactions.append(tx)
        self.by_hash[tx.env.hash_hex] = tx
        if tx.env.inner_hash is not None:
            self.by_hash[tx.env.inner_hash.hex()] = tx
        for account in tx.participants:
            self.account_txs[account].append(tx)
        for op in tx.operations:
            self.operations.append(op)
            self.op_by_id[op.id] = op
            for account in op.participants:
                self.account_ops[account].append(op)
            if op.is_payment:
                self.payments.append(op)
                for account in op.participants:
                    self.account_payments[account].append(op)

    def knows_account(self, account: str) -> bool:
        """Horizon's history_accounts: any account that ever took part in a transaction."""
        return account in self.account_txs

    def ledger(self, sequence: int) -> LedgerRecord | None:
        if 1 <= sequence <= len(self.ledgers):
            return self.ledgers[sequence - 1]
        return None
