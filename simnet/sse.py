"""Server-sent events exactly as Horizon writes them (render/sse in stellar-horizon).

hello first (``retry: 1000``), one event per record with ``id:`` = paging token and no
``event:`` line, then byebye (``retry: 10``) after ``limit`` events or when the connection's
time is up (Horizon's 55 s request timeout). No keep-alive comments, like Horizon.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .faults import FaultSet, reset_connection
from .network import Network

HELLO = b'retry: 1000\nevent: open\ndata: "hello"\n\n'
BYEBYE = b'retry: 10\nevent: close\ndata: "byebye"\n\n'
HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "Access-Control-Allow-Origin": "*",
}


def wants_stream(request: web.Request) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def _event(record_id: int, data: dict[str, Any]) -> bytes:
    return f"id: {record_id}\ndata: {json.dumps(data)}\n\n".encode()


async def serve(request: web.Request, net: Network, faults: FaultSet,
                fetch: Callable[[int | None, int], list], render: Callable[[Any], dict],
                cursor: int | None, limit: int, timeout: float) -> web.StreamResponse:
    """Stream records after ``cursor`` until ``limit`` events or ``timeout`` seconds."""
    fault = faults.take(("stream_drop", "stream_stall"), "stream", request.path)
    deadline = time.monotonic() + timeout
    resp = web.StreamResponse(status=200, headers={**HEADERS,
                                                   "Latest-Ledger": str(net.latest_ledger)})
    await resp.prepare(request)
    sent = 0
    try:
        await resp.write(HELLO)
        while True:
            if fault is not None and sent >= fault.params["after_events"]:
                return await _misbehave(request, resp, fault.kind)
            batch = fetch(cursor, limit - sent)
            if fault is not None:
                batch = batch[: fault.params["after_events"] - sent]
            for record in batch:
                await resp.write(_event(record.id, render(record)))
                cursor = record.id
                sent += 1
            if sent >= limit:
                break
            if fault is not None and sent >= fault.params["after_events"]:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await net.wait_for_ledger(remaining)
        await resp.write(BYEBYE)
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    return resp


async def _misbehave(request: web.Request, resp: web.StreamResponse,
                     kind: str) -> web.StreamResponse:
    if kind == "stream_drop":
        reset_connection(request)
        return resp
    while request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(0.2)
    return resp
