"""``POST /rpc``: JSON-RPC 2.0 requests (single or batched) to the Stellar RPC methods.

Like stellar-rpc every answer is HTTP 200 with either ``result`` or ``error``; a request
without ``id`` is a notification and gets no answer. The ``rpc_*`` faults are consulted here,
with the request "path" ``/rpc/<method>`` so a fault's ``match`` can pick methods.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..context import base_url
from . import get_events, node, transactions
from .protocol import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, RpcError
from .window import RPC_STATE, Call, RpcState, view

log = logging.getLogger(__name__)
JSON_TYPE = "application/json"


def _send(call: Call) -> dict[str, Any]:
    later = call.state.faults.take(("rpc_try_again_later",), "rpc", "/rpc/sendTransaction")
    return transactions.send_transaction(call, try_again_later=later is not None)


METHODS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "getHealth": node.get_health,
    "getNetwork": node.get_network,
    "getLatestLedger": node.get_latest_ledger,
    "getFeeStats": node.get_fee_stats,
    "getLedgerEntries": node.ledger_entries,
    "sendTransaction": _send,
    "getTransaction": transactions.get_transaction,
    "getTransactions": transactions.get_transactions,
    "getEvents": get_events.get_events,
}


def call_method(state: RpcState, method: str, params: Any, base: str) -> dict[str, Any]:
    """Run one method under the armed faults; raises RpcError for JSON-RPC errors."""
    handler = METHODS.get(method)
    if handler is None:
        raise RpcError(METHOD_NOT_FOUND)
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "invalid parameters: array parameters are not supported")
    path = f"/rpc/{method}"
    failure = state.faults.take(("rpc_error",), "rpc", path)
    lag = state.faults.take(("rpc_lagging_node",), "rpc", path)
    call = Call(state, view(state, lag.params["ledgers"] if lag else 0), params, base)
    if failure is not None:
        if failure.params["applied"] and method == "sendTransaction":
            try:
                transactions.send_transaction(call)
            except RpcError:
                pass  # the client gets the fault's error either way
        raise RpcError(failure.params["code"])
    return handler(call)


def answer(state: RpcState, request: Any, base: str) -> dict[str, Any] | None:
    """The response object for one request object (None for a notification)."""
    if not isinstance(request, dict):
        return _error(None, RpcError(INVALID_REQUEST))
    rid = request.get("id")
    if request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
        return _error(rid, RpcError(INVALID_REQUEST))
    try:
        result = call_method(state, request["method"], request.get("params"), base)
    except RpcError as exc:
        response = _error(rid, exc)
    except Exception:
        log.exception("simnet rpc: unexpected error in %s", request["method"])
        response = _error(rid, RpcError(INTERNAL_ERROR))
    else:
        response = {"jsonrpc": "2.0", "id": rid, "result": result}
    return response if "id" in request else None


def _error(rid: Any, exc: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": exc.code, "message": exc.message}}


def _reply(body: Any) -> web.Response:
    return web.Response(text=json.dumps(body), content_type=JSON_TYPE)


async def post_rpc(request: web.Request) -> web.Response:
    state = request.app[RPC_STATE]
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return _reply(_error(None, RpcError(PARSE_ERROR)))
    base = base_url(request)
    if isinstance(body, list):
        if not body:
            return _reply(_error(None, RpcError(INVALID_REQUEST)))
        answers = [a for a in (answer(state, item, base) for item in body) if a is not None]
        return _reply(answers) if answers else web.Response(status=204)
    response = answer(state, body, base)
    return _reply(response) if response is not None else web.Response(status=204)
