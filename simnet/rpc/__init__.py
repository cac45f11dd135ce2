"""Stellar RPC (JSON-RPC 2.0 at ``POST /rpc``) on simnet's ledger, next to its Horizon API.

Modules: ``dispatch`` (the endpoint, requests, errors, faults), ``node`` (health, network,
latest ledger, fee stats, ledger entries), ``transactions`` (send and look up), ``get_events``
(filters, paging), ``events`` (CAP-67 encoding of classic operations), ``entries`` (ledger
entry XDR), ``window`` (retention and the lagging view), ``protocol`` (error codes, cursors),
``admin`` (injecting events from other contracts).
"""

from __future__ import annotations

from aiohttp import web

from ..context import CONTEXT
from . import admin, dispatch
from .events import Encoder
from .window import RPC_STATE, RpcState


def add_routes(app: web.Application) -> None:
    """Serve Stellar RPC on ``app``'s network (call after its context is set)."""
    ctx = app[CONTEXT]
    app[RPC_STATE] = RpcState(ctx.net, ctx.faults, ctx.settings.rpc_retention_window,
                              Encoder(ctx.net.passphrase))
    app.router.add_post("/rpc", dispatch.post_rpc)
    app.router.add_post("/_simnet/rpc/events", admin.inject_event)
