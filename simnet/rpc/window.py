"""What one RPC answer sees: the node's ledger range after retention and lag.

stellar-rpc keeps ``history-retention-window`` ledgers of transactions and events; anything
older is gone and ``oldestLedger`` says where its history starts. A lagging node (the
``rpc_lagging_node`` fault) has not ingested the last few ledgers yet: its ``latestLedger``
is behind and it knows nothing applied since.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..faults import FaultSet
from ..history import LedgerRecord, TxRecord
from ..network import Network
from ..units import toid
from .events import Encoder, Event, Raw


@dataclass
class RpcState:
    """The RPC endpoint's own state: retention, the event cache and injected events."""

    net: Network
    faults: FaultSet
    retention: int
    encoder: Encoder
    ledger_events: dict[int, list[Event]] = field(default_factory=dict)
    injected: dict[int, list[Raw]] = field(default_factory=dict)  # by the ledger to hold them


RPC_STATE = web.AppKey("simnet_rpc", RpcState)


@dataclass(frozen=True)
class View:
    """The ledger range one answer is made from."""

    latest: LedgerRecord
    oldest: LedgerRecord

    def holds(self, ledger: int) -> bool:
        return self.oldest.sequence <= ledger <= self.latest.sequence


def view(state: RpcState, lag: int = 0) -> View:
    """Latest and oldest ledger of a node ``lag`` ledgers behind, after retention."""
    history = state.net.history
    latest = history.ledger(max(1, history.latest.sequence - lag))
    oldest = history.ledger(max(1, latest.sequence - state.retention + 1))
    assert latest is not None and oldest is not None
    return View(latest, oldest)


def ledger_transactions(net: Network, ledger: int) -> list[TxRecord]:
    """The transactions applied in ``ledger``, in application order."""
    records = net.history.transactions
    lo = bisect.bisect_left(records, toid(ledger), key=lambda r: r.id)
    hi = bisect.bisect_left(records, toid(ledger + 1), key=lambda r: r.id)
    return records[lo:hi]


@dataclass(frozen=True)
class Call:
    """One method call: the endpoint's state, the node's view, the params, the base URL."""

    state: RpcState
    view: View
    params: dict[str, Any]
    base_url: str
