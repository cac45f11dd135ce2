"""aiohttp application: Horizon's read endpoints, paging, middleware and wiring.

Submission lives in ``submit_endpoints.py``, the admin API in ``admin.py``; this module owns the
routes, query-parameter validation (Horizon's 400 ``bad_request`` problems) and the middleware
that turns every unexpected error into a problem body instead of a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from stellar_sdk import StrKey

from . import admin, problems, resources, rpc, sse, submit_endpoints
from .context import CONTEXT, BadParam, Context, SimnetSettings, base_url, ctx_of, hal
from .faults import FaultSet, reset_connection
from .history import page
from .ledger import ClaimableBalance
from .network import PROTOCOL_VERSION, FriendbotError, Network
from .units import toid

log = logging.getLogger(__name__)
MAX_LIMIT = 200


# --- paging ----------------------------------------------------------------------------------


@dataclass
class Paging:
    cursor: int | None
    cursor_text: str
    descending: bool
    limit: int
    include_failed: bool
    join: bool


def paging(request: web.Request, net: Network) -> Paging:
    """Parse cursor/order/limit/include_failed/join; Last-Event-ID wins over cursor."""
    q = request.query
    raw = request.headers.get("Last-Event-ID") or q.get("cursor", "")
    if raw == "now":
        cursor: int | None = toid(net.latest_ledger + 1) - 1
    elif raw == "":
        cursor = None
    else:
        try:
            cursor = int(raw)
        except ValueError:
            raise BadParam("cursor", "unparseable value") from None
        if cursor < 0:
            raise BadParam("cursor", "the cursor is a negative number")
    order = q.get("order", "asc") or "asc"
    if order not in ("asc", "desc"):
        raise BadParam("order", "order: invalid value (must be asc or desc)")
    limit_text = q.get("limit", "") or "10"
    try:
        limit = int(limit_text)
    except ValueError:
        raise BadParam("limit", "unparseable value") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadParam("limit", f"limit must be a positive number no larger than {MAX_LIMIT}")
    include_failed = q.get("include_failed", "false").lower()
    if include_failed not in ("true", "false", ""):
        raise BadParam("include_failed", "must be true or false")
    join = q.get("join", "")
    if join not in ("", "transactions"):
        raise BadParam("join", "Accepted values: transactions")
    return Paging(cursor, raw, order == "desc", limit, include_failed == "true",
                  join == "transactions")


def page_body(request: web.Request, p: Paging, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Horizon's page: self/next/prev links plus ``_embedded.records``."""
    base = base_url(request) + request.path
    extra = {k: v for k, v in request.query.items() if k not in ("cursor", "limit", "order")}
    order = "desc" if p.descending else "asc"
    flipped = "asc" if p.descending else "desc"

    def link(cursor: str, direction: str) -> dict[str, str]:
        query = {"cursor": cursor, "limit": p.limit, "order": direction, **extra}
        return {"href": f"{base}?{urlencode(query)}"}

    last = records[-1]["paging_token"] if records else p.cursor_text
    first = records[0]["paging_token"] if records else p.cursor_text
    return {
        "_links": {"self": link(p.cursor_text, order), "next": link(last, order),
                   "prev": link(first, flipped)},
        "_embedded": {"records": records},
    }


async def listing(request: web.Request, records: list, render: Callable[[Any], dict],
                  failed_filter: bool = True) -> web.StreamResponse:
    """A paged list of history records, or a stream of them with Accept: text/event-stream."""
    ctx = ctx_of(request)
    p = paging(request, ctx.net)
    include_failed = p.include_failed or not failed_filter
    if sse.wants_stream(request):
        def fetch(cursor: int | None, n: int) -> list:
            return page(records, cursor, False, n, include_failed)

        return await sse.serve(request, ctx.net, ctx.faults, fetch, render, p.cursor,
                             p.limit, ctx.settings.stream_timeout)
    found = page(records, p.cursor, p.descending, p.limit, include_failed)
    return hal(page_body(request, p, [render(r) for r in found]))


# --- handlers --------------------------------------------------------------------------------


def _account_param(request: web.Request) -> str:
    account = request.match_info["account_id"]
    if not StrKey.is_valid_ed25519_public_key(account):
        raise BadParam("account_id",
                       "Account ID must start with `G` and contain 56 alphanum characters")
    return account


async def get_root(request: web.Request) -> web.Response:
    net = ctx_of(request).net
    return hal(resources.root(base_url(request), net.passphrase, net.history.latest,
                              PROTOCOL_VERSION))


async def get_account(request: web.Request) -> web.Response:
    if sse.wants_stream(request):
        return problems.not_acceptable()
    account = ctx_of(request).net.state.account(_account_param(request))
    if account is None:
        return problems.not_found()
    return hal(resources.account(account, base_url(request)))


def _known_account(request: web.Request) -> str | None:
    net = ctx_of(request).net
    account = _account_param(request)
    if net.state.account(account) is None and not net.history.knows_account(account):
        return None
    return account


def _op_renderer(request: web.Request) -> Callable[[Any], dict]:
    base = base_url(request)
    join = request.query.get("join") == "transactions"
    return lambda rec: resources.operation(rec, base, join)


def _tx_renderer(request: web.Request) -> Callable[[Any], dict]:
    base = base_url(request)
    return lambda rec: resources.transaction(rec, base)


async def account_payments(request: web.Request) -> web.StreamResponse:
    account = _known_account(request)
    if account is None:
        return problems.not_found()
    history = ctx_of(request).net.history
    return await listing(request, history.account_payments[account], _op_renderer(request))


async def account_operations(request: web.Request) -> web.StreamResponse:
    account = _known_account(request)
    if account is None:
        return problems.not_found()
    history = ctx_of(request).net.history
    return await listing(request, history.account_ops[account], _op_renderer(request))


async def account_transactions(request: web.Request) -> web.StreamResponse:
    account = _known_account(request)
    if account is None:
        return problems.not_found()
    history = ctx_of(request).net.history
    return await listing(request, history.account_txs[account], _tx_renderer(request))


async def all_payments(request: web.Request) -> web.StreamResponse:
    return await listing(request, ctx_of(request).net.history.payments, _op_renderer(request))


async def all_operations(request: web.Request) -> web.StreamResponse:
    return await listing(request, ctx_of(request).net.history.operations,
                         _op_renderer(request))


async def all_transactions(request: web.Request) -> web.StreamResponse:
    return await listing(request, ctx_of(request).net.history.transactions,
                         _tx_renderer(request))


async def get_operation(request: web.Request) -> web.Response:
    try:
        op_id = int(request.match_info["op_id"])
    except ValueError:
        raise BadParam("id", "unparseable value") from None
    rec = ctx_of(request).net.history.op_by_id.get(op_id)
    if rec is None:
        return problems.not_found()
    return hal(resources.operation(rec, base_url(request), request.query.get("join") ==
                                   "transactions"))


def _tx_hash_param(request: web.Request) -> str:
    tx_hash = request.match_info["tx_hash"].lower()
    if len(tx_hash) != 64 or any(c not in "0123456789abcdef" for c in tx_hash):
        raise BadParam("tx_id", "Transaction hash must be a hex-encoded, lowercase SHA-256 hash")
    return tx_hash


async def get_transaction(request: web.Request) -> web.Response:
    if sse.wants_stream(request):
        return problems.not_acceptable()
    tx_hash = _tx_hash_param(request)
    ctx = ctx_of(request)
    rec = ctx.net.lookup(tx_hash)
    lagging = ctx.faults.take(("lagging_node",), "read", request.path)
    seen = ctx.net.latest_ledger - (lagging.params["ledgers"] if lagging else 0)
    if rec is None or rec.ledger > seen:
        response = problems.not_found()
    else:
        response = hal(resources.transaction(rec, base_url(request), tx_hash))
    response.headers[LATEST_LEDGER] = str(max(seen, 1))
    return response


async def transaction_operations(request: web.Request) -> web.StreamResponse:
    rec = ctx_of(request).net.lookup(_tx_hash_param(request))
    if rec is None:
        return problems.not_found()
    return await listing(request, rec.operations, _op_renderer(request), failed_filter=False)


async def get_ledgers(request: web.Request) -> web.StreamResponse:
    base = base_url(request)
    return await listing(request, ctx_of(request).net.history.ledgers,
                         lambda rec: resources.ledger(rec, base), failed_filter=False)


async def get_ledger(request: web.Request) -> web.Response:
    try:
        seq = int(request.match_info["sequence"])
    except ValueError:
        raise BadParam("sequence", "unparseable value") from None
    rec = ctx_of(request).net.history.ledger(seq)
    return problems.not_found() if rec is None else hal(resources.ledger(rec, base_url(request)))


async def get_fee_stats(request: web.Request) -> web.Response:
    net = ctx_of(request).net
    recent_ledgers = {r.sequence for r in net.history.ledgers[-5:]}
    recent = [t for t in net.history.transactions[-5000:] if t.ledger in recent_ledgers]
    return hal(resources.fee_stats(net.history.latest, recent, net.ledger_capacity))


async def get_claimable_balances(request: web.Request) -> web.Response:
    net = ctx_of(request).net
    q = request.query
    p = paging_for_balances(request)
    items = sorted(net.state.balances.values(),
                   key=lambda cb: (cb.last_modified_ledger, cb.balance_id),
                   reverse=p["descending"])
    for name in ("claimant", "sponsor"):
        if q.get(name) and not StrKey.is_valid_ed25519_public_key(q[name]):
            raise BadParam(name, "Account ID must start with `G` and contain 56 alphanum "
                                 "characters")
    if q.get("claimant"):
        items = [cb for cb in items if q["claimant"] in dict(cb.claimants)]
    if q.get("sponsor"):
        items = [cb for cb in items if cb.sponsor == q["sponsor"]]
    if q.get("asset"):
        items = [cb for cb in items if cb.asset == q["asset"]]
    cursor = p["cursor"]
    if cursor is not None:
        def beyond(cb: ClaimableBalance) -> bool:
            key = (cb.last_modified_ledger, cb.balance_id)
            return key < cursor if p["descending"] else key > cursor

        items = [cb for cb in items if beyond(cb)]
    base = base_url(request)
    records = [resources.claimable_balance(cb, base) for cb in items[: p["limit"]]]
    pg = Paging(None, p["cursor_text"], p["descending"], p["limit"], False, False)
    return hal(page_body(request, pg, records))


def paging_for_balances(request: web.Request) -> dict[str, Any]:
    """Claimable balances page by ``<ledger>-<id>`` tokens rather than TOIDs."""
    q = request.query
    raw = q.get("cursor", "")
    cursor = None
    if raw:
        ledger_text, _, balance_id = raw.partition("-")
        if not ledger_text.isdigit() or not balance_id:
            raise BadParam("cursor", "cursor must be of the form <ledger>-<balance id>")
        cursor = (int(ledger_text), balance_id)
    order = q.get("order", "asc") or "asc"
    if order not in ("asc", "desc"):
        raise BadParam("order", "order: invalid value (must be asc or desc)")
    try:
        limit = int(q.get("limit", "") or "10")
    except ValueError:
        raise BadParam("limit", "unparseable value") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadParam("limit", f"limit must be a positive number no larger than {MAX_LIMIT}")
    return {"cursor": cursor, "cursor_text": raw, "descending": order == "desc", "limit": limit}


async def get_claimable_balance(request: web.Request) -> web.Response:
    balance_id = request.match_info["balance_id"].lower()
    if len(balance_id) != 72 or any(c not in "0123456789abcdef" for c in balance_id):
        raise BadParam("id", "balance id must be a 72-character hex string")
    cb = ctx_of(request).net.state.balances.get(balance_id)
    if cb is None:
        return problems.not_found()
    return hal(resources.claimable_balance(cb, base_url(request)))


async def friendbot(request: web.Request) -> web.Response:
    """Testnet friendbot: create and fund ``addr`` with 10,000 XLM; returns the transaction."""
    address = request.query.get("addr", "")
    if not StrKey.is_valid_ed25519_public_key(address):
        raise BadParam("addr", "addr must be a valid Stellar account id (G...)")
    try:
        record = await ctx_of(request).net.friendbot(address)
    except FriendbotError:
        return problems.problem("bad_request", 400, "Bad Request",
                                "Friendbot can only fund accounts that do not exist yet.",
                                {"invalid_field": "addr", "reason": "account already funded"})
    return hal(resources.transaction(record, base_url(request)))


# --- middleware -----------------------------------------------------------------------------


LATEST_LEDGER = "Latest-Ledger"


def request_scope(request: web.Request) -> str:
    if request.method == "POST" and request.path.rstrip("/") in ("/transactions",
                                                                 "/transactions_async"):
        return "submit"
    return "stream" if sse.wants_stream(request) else "read"


@web.middleware
async def horizon_errors(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
    """Faults for reads and streams, problem bodies for every error, and Horizon's
    ``Latest-Ledger`` header (the latest ingested ledger) on every answer."""
    if not request.path.startswith("/_simnet"):
        faults = ctx_of(request).faults
        scope = request_scope(request)
        fault = faults.take(("latency",), scope, request.path)
        if fault is not None:
            await asyncio.sleep(fault.params["seconds"])
        if scope != "submit" and faults.take(("reset",), scope, request.path) is not None:
            reset_connection(request)
            return web.Response(status=500)
        if request.method == "GET" and scope == "read":
            fault = faults.take(("read_error",), scope, request.path)
            if fault is not None:
                return problems.rejected(fault.params["status"])  # from a proxy: no Latest-Ledger
    response = await _handle(request, handler)
    if not response.prepared and not request.path.startswith("/_simnet"):
        response.headers.setdefault(LATEST_LEDGER, str(ctx_of(request).net.latest_ledger))
    return response


async def _handle(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    """The handler's response, or the problem body for its error."""
    try:
        return await handler(request)
    except BadParam as exc:
        return problems.bad_request(exc.field, exc.reason)
    except web.HTTPNotFound:
        return problems.not_found()
    except web.HTTPMethodNotAllowed:
        return problems.method_not_allowed()
    except web.HTTPException as exc:
        return problems.problem("bad_request", exc.status, exc.reason, exc.text or exc.reason)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("simnet: unexpected error handling %s %s", request.method, request.path)
        return problems.server_error()


def build_app(net: Network, faults: FaultSet, settings: SimnetSettings) -> web.Application:
    """The Horizon-compatible application for ``net``."""
    app = web.Application(middlewares=[horizon_errors], client_max_size=8 * 1024 * 1024)
    app[CONTEXT] = Context(net, faults, settings)
    r = app.router
    r.add_get("/", get_root)
    r.add_get("/accounts/{account_id}", get_account)
    r.add_get("/accounts/{account_id}/payments", account_payments)
    r.add_get("/accounts/{account_id}/operations", account_operations)
    r.add_get("/accounts/{account_id}/transactions", account_transactions)
    r.add_get("/payments", all_payments)
    r.add_get("/operations", all_operations)
    r.add_get("/operations/{op_id}", get_operation)
    r.add_get("/transactions", all_transactions)
    r.add_get("/transactions/{tx_hash}", get_transaction)
    r.add_get("/transactions/{tx_hash}/operations", transaction_operations)
    r.add_post("/transactions", submit_endpoints.post_transaction)
    r.add_post("/transactions_async", submit_endpoints.post_transaction_async)
    r.add_get("/ledgers", get_ledgers)
    r.add_get("/ledgers/{sequence}", get_ledger)
    r.add_get("/fee_stats", get_fee_stats)
    r.add_get("/claimable_balances", get_claimable_balances)
    r.add_get("/claimable_balances/{balance_id}", get_claimable_balance)
    r.add_get("/friendbot", friendbot)
    r.add_post("/friendbot", friendbot)
    admin.add_routes(app)
    rpc.add_routes(app)
    return app
