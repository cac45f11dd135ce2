"""Per-application context and response helpers shared by the route modules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .faults import FaultSet
from .network import Network

HAL_CONTENT_TYPE = "application/hal+json; charset=utf-8"
_string = json.encoder.encode_basestring_ascii


@dataclass
class SimnetSettings:
    """Server behaviour that is not ledger state."""

    submission_timeout: float = 30.0
    stream_timeout: float = 55.0
    rpc_retention_window: int = 120_960  # stellar-rpc's default: about 7 days of ledgers


@dataclass
class Context:
    net: Network
    faults: FaultSet
    settings: SimnetSettings


CONTEXT = web.AppKey("simnet", Context)


class BadParam(Exception):
    """A query parameter Horizon would reject with 400 bad_request."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def dumps(body: Any) -> str:
    """``json.dumps(body, indent=2)`` (Horizon indents its JSON), without the pure-Python
    encoder for the flat objects of the hot paths (submission answers)."""
    if type(body) is dict and body and all(type(v) is str or type(v) is int
                                          for v in body.values()):
        return "{\n" + ",\n".join(
            f"  {_string(k)}: {_string(v) if type(v) is str else int.__repr__(v)}"
            for k, v in body.items()) + "\n}"
    return json.dumps(body, indent=2)


def hal(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=dumps(body).encode(),
                        headers={"Content-Type": HAL_CONTENT_TYPE})


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def ctx_of(request: web.Request) -> Context:
    return request.app[CONTEXT]
