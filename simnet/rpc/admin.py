"""``POST /_simnet/rpc/events``: put an event from any contract on the ledger.

simnet runs no contracts, yet on a real network any contract can emit an event shaped like a
Stellar Asset Contract ``transfer`` (a look-alike token naming a real asset). This hook queues
such an event into the next ledger so an ingest can be tested to ignore it. The body is either
``{"contract_id": "C...", "topics": [base64 ScVal, ...], "value": base64 ScVal}`` or the
shortcut ``{"contract_id": "C...", "transfer": {"from": "G...", "to": "G...", "asset":
"CODE:ISSUER", "amount": "10.5", "to_muxed_id": 7}}`` (``to_muxed_id`` optional, a u64).
The answer is ``{"ledger": N}``, the ledger that will hold it; its ``txHash`` names no
transaction simnet knows.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from stellar_sdk import StrKey, scval

from ..units import to_stroops
from .events import address, amount_value, b64, symbol
from .get_events import inject
from .protocol import RpcError
from .window import RPC_STATE


def _transfer(spec: dict[str, Any]) -> tuple[list[str], str]:
    sender, dest = spec.get("from"), spec.get("to")
    if not all(isinstance(a, str) and StrKey.is_valid_ed25519_public_key(a)
               for a in (sender, dest)):
        raise ValueError("transfer.from and transfer.to must be G addresses")
    asset = spec.get("asset")
    if not isinstance(asset, str) or not asset:
        raise ValueError("transfer.asset must be a SEP-11 asset string")
    muxed_id = spec.get("to_muxed_id")
    if muxed_id is not None and (type(muxed_id) is not int or not 0 <= muxed_id < 2**64):
        raise ValueError("transfer.to_muxed_id must be a u64")
    amount = to_stroops(str(spec.get("amount", "")))
    topics = [symbol("transfer"), address(str(sender)), address(str(dest)),
              b64(scval.to_string(asset))]
    return topics, amount_value(amount, None if muxed_id is None else scval.to_uint64(muxed_id))


async def inject_event(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        if isinstance(body.get("transfer"), dict):
            topics, value = _transfer(body["transfer"])
        else:
            topics, value = body.get("topics"), body.get("value")
            if not isinstance(topics, list) or not isinstance(value, str):
                raise ValueError("give topics (a list of base64 ScVal) and value, or transfer")
        ledger = inject(request.app[RPC_STATE], str(body.get("contract_id", "")), topics, value)
    except (ValueError, ArithmeticError, json.JSONDecodeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except RpcError as exc:
        return web.json_response({"error": exc.message}, status=400)
    return web.json_response({"ledger": ledger})
