"""The ``/_simnet/`` admin API: faults, path-payment rates and ledger state for assertions.

Everything here is also available on the in-process :class:`~simnet.Simnet`;
the HTTP form exists for a standalone simnet driven from another process or language.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from stellar_sdk import StrKey

from . import problems, snapshots
from .context import ctx_of


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda b: json.dumps(b, indent=2))


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _invalid(reason: str) -> web.Response:
    return problems.problem("bad_request", 400, "Bad Request", reason)


async def summary(request: web.Request) -> web.Response:
    return _json(snapshots.summary(ctx_of(request).net))


async def get_account(request: web.Request) -> web.Response:
    account = request.match_info["account_id"]
    if not StrKey.is_valid_ed25519_public_key(account):
        return _invalid("account id must be a G... address")
    acc = ctx_of(request).net.state.account(account)
    return problems.not_found() if acc is None else _json(snapshots.account(acc))


async def list_transactions(request: web.Request) -> web.Response:
    net = ctx_of(request).net
    return _json(snapshots.transactions(net, request.query.get("account")))


async def list_payments(request: web.Request) -> web.Response:
    net = ctx_of(request).net
    return _json(snapshots.payments(net, request.query.get("account")))


async def get_faults(request: web.Request) -> web.Response:
    return _json(ctx_of(request).faults.list())


async def add_fault(request: web.Request) -> web.Response:
    try:
        data = await _body(request)
        kind = data.pop("kind")
        fault = ctx_of(request).faults.add(kind, **data)
    except KeyError:
        return _invalid("kind is required")
    except (TypeError, ValueError) as exc:
        return _invalid(str(exc))
    return _json(fault.to_dict(), 201)


async def clear_faults(request: web.Request) -> web.Response:
    ctx_of(request).faults.clear()
    return web.Response(status=204)


async def delete_fault(request: web.Request) -> web.Response:
    try:
        fault_id = int(request.match_info["fault_id"])
    except ValueError:
        return _invalid("fault id must be an integer")
    removed = ctx_of(request).faults.remove(fault_id)
    return web.Response(status=204) if removed else problems.not_found()


async def get_rates(request: web.Request) -> web.Response:
    return _json(ctx_of(request).net.rates.snapshot())


async def set_rate(request: web.Request) -> web.Response:
    """Body ``{"sell": "native", "buy": "USD:G...", "rate": "0.1"}``."""
    try:
        data = await _body(request)
        ctx_of(request).net.rates.set(snapshots.parse_asset(data["sell"]),
                                      snapshots.parse_asset(data["buy"]), data["rate"])
    except KeyError as exc:
        return _invalid(f"{exc.args[0]} is required")
    except (ArithmeticError, TypeError, ValueError) as exc:
        return _invalid(str(exc) or "invalid rate")
    return _json(ctx_of(request).net.rates.snapshot(), 201)


async def clear_rates(request: web.Request) -> web.Response:
    ctx_of(request).net.rates.clear()
    return web.Response(status=204)


async def close_ledger(request: web.Request) -> web.Response:
    """Close a ledger now (in addition to the timer)."""
    ledger = ctx_of(request).net.close_ledger()
    return _json({"sequence": ledger.sequence})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/_simnet/", summary)
    r.add_get("/_simnet/accounts/{account_id}", get_account)
    r.add_get("/_simnet/transactions", list_transactions)
    r.add_get("/_simnet/payments", list_payments)
    r.add_get("/_simnet/faults", get_faults)
    r.add_post("/_simnet/faults", add_fault)
    r.add_delete("/_simnet/faults", clear_faults)
    r.add_delete("/_simnet/faults/{fault_id}", delete_fault)
    r.add_get("/_simnet/rates", get_rates)
    r.add_post("/_simnet/rates", set_rate)
    r.add_delete("/_simnet/rates", clear_rates)
    r.add_post("/_simnet/close_ledger", close_ledger)
