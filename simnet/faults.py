"""Fault injection: what can go wrong between a client and Horizon, on demand.

A fault has a kind, optional ``count`` (fire for the next N matching requests, then vanish),
``probability`` (fire on that share of matching requests) and ``match`` (a substring the request
path must contain). Faults are consulted in the order they were added.

Kinds and their parameters:

- ``submit_timeout`` (POST /transactions and /transactions_async): 504 ``transaction_submission_timeout``.
  ``applied=True`` lets the transaction into the network first (it lands in the next ledger),
  ``applied=False`` answers without submitting it.
- ``submit_error`` (POST /transactions and /transactions_async): a 5xx problem,
  ``status`` 500 (default), 502, 503 or 504; ``applied`` as above (default False).
- ``reset``: the connection is reset without a response. ``scope`` is ``submit`` (default),
  ``read``, ``stream`` or ``any``; for submissions ``applied`` as above (default False).
- ``latency``: ``seconds`` added before handling; ``scope`` as above, default ``any``.
- ``stream_drop``: an SSE stream is cut (no byebye) after ``after_events`` events (default 0).
- ``stream_stall``: an SSE stream goes silent after ``after_events`` events and stays open.
- ``read_error`` (GET, not streams): answered by what stands in front of Horizon (a load
  balancer with no ready backend, a rate limiter, a proxy): ``status`` 404 (default, Horizon's
  not_found body), 429 (the rate-limit body), 500, 502, 503 or 504, and no ``Latest-Ledger``
  header -- nothing in it says which ledger any node has seen. Use ``match`` for paths.
- ``submit_rejected`` (POST /transactions and /transactions_async): HTTP ``status`` 429
  (default), 403 or 413 with a problem body without result codes; ``applied`` as for
  ``submit_error`` (default False).
- ``lagging_node``: hash lookups (GET /transactions/{hash}) answer as a node ``ledgers``
  behind (default 3): 404 for transactions applied in the last ``ledgers`` ledgers, and a
  ``Latest-Ledger`` header of the lagging ledger. /accounts answers stay current.
- ``resubmit_refused`` (POST /transactions and /transactions_async): an envelope that already
  applied is answered 400 (async: ``tx_status`` ERROR) with result code ``code``,
  ``tx_too_late`` (default) or ``tx_bad_seq``, as a real network may answer a resubmission.

Stellar RPC faults (``POST /rpc``; ``match`` is tested against ``/rpc/<method>``):

- ``rpc_lagging_node``: the RPC node answers as one ``ledgers`` behind (default 3): every
  method's ``latestLedger`` is that far back, ``getTransaction`` says NOT_FOUND for
  transactions applied since, ``getEvents``/``getTransactions`` do not see those ledgers.
  ``getLedgerEntries`` stays current (like /accounts under ``lagging_node``).
- ``rpc_try_again_later``: ``sendTransaction`` answers TRY_AGAIN_LATER without admitting.
- ``rpc_error``: a JSON-RPC error with ``code`` -32603 (default, internal error), -32001
  (request timed out), -32600, -32601 or -32602; for ``sendTransaction`` with
  ``applied=True`` the transaction is admitted first (outcome unknown to the client).
"""

from __future__ import annotations

import random
import socket
import struct
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

SCOPES = ("submit", "read", "stream", "any")
KINDS: dict[str, dict[str, Any]] = {
    "submit_timeout": {"applied": True},
    "submit_error": {"status": 500, "applied": False},
    "reset": {"scope": "submit", "applied": False},
    "latency": {"seconds": 0.5, "scope": "any"},
    "stream_drop": {"after_events": 0},
    "stream_stall": {"after_events": 0},
    "read_error": {"status": 404},
    "submit_rejected": {"status": 429, "applied": False},
    "lagging_node": {"ledgers": 3},
    "resubmit_refused": {"code": "tx_too_late"},
    "rpc_lagging_node": {"ledgers": 3},
    "rpc_try_again_later": {},
    "rpc_error": {"code": -32603, "applied": False},
}
SUBMIT_KINDS = ("submit_timeout", "submit_error", "submit_rejected", "reset")
ALLOWED = {
    ("submit_error", "status"): (500, 502, 503, 504),
    ("read_error", "status"): (404, 429, 500, 502, 503, 504),
    ("submit_rejected", "status"): (403, 413, 429),
    ("resubmit_refused", "code"): ("tx_too_late", "tx_bad_seq"),
    ("rpc_error", "code"): (-32603, -32001, -32600, -32601, -32602),
}


@dataclass
class Fault:
    """One configured fault; ``count`` None means unlimited."""

    id: int
    kind: str
    count: int | None = None
    probability: float = 1.0
    match: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def scope(self) -> str:
        if self.kind in ("submit_timeout", "submit_error", "submit_rejected", "resubmit_refused"):
            return "submit"
        if self.kind in ("read_error", "lagging_node"):
            return "read"
        if self.kind in ("stream_drop", "stream_stall"):
            return "stream"
        if self.kind.startswith("rpc_"):
            return "rpc"
        return self.params["scope"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultSet:
    """The faults currently armed on a server."""

    def __init__(self, seed: int | None = None) -> None:
        self._faults: list[Fault] = []
        self._next_id = 1
        self._random = random.Random(seed)

    def add(self, kind: str, *, count: int | None = None, probability: float = 1.0,
            match: str | None = None, **params: Any) -> Fault:
        """Arm a fault; raises ValueError for unknown kinds or parameters."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        unknown = set(params) - set(KINDS[kind])
        if unknown:
            raise ValueError(f"unknown parameters for {kind}: {', '.join(sorted(unknown))}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or None for unlimited)")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        merged = {**KINDS[kind], **params}
        if merged.get("scope", "any") not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
        for (allowed_kind, name), allowed in ALLOWED.items():
            if kind == allowed_kind and merged[name] not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}")
        if kind in ("lagging_node", "rpc_lagging_node") and (not isinstance(merged["ledgers"], int)
                                       or merged["ledgers"] < 1):
            raise ValueError("ledgers must be a positive integer")
        fault = Fault(self._next_id, kind, count, probability, match, merged)
        self._next_id += 1
        self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self._faults]

    def take(self, kinds: tuple[str, ...], scope: str, path: str) -> Fault | None:
        """The first armed fault of ``kinds`` that fires for this request (uses up a count)."""
        for fault in self._faults:
            if fault.kind not in kinds or fault.scope() not in (scope, "any"):
                continue
            if fault.match and fault.match not in path:
                continue
            if fault.probability < 1.0 and self._random.random() >= fault.probability:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
            return fault
        return None


def reset_connection(request: web.Request) -> None:
    """Abort the TCP connection with an RST (SO_LINGER 0), as a crashed proxy would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
