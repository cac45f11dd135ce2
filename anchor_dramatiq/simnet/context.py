"""Per-application context and response helpers shared by the route modules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .faults import FaultSet
from .network import Network

HAL_CONTENT_TYPE = "application/hal+json; charset=utf-8"


@dataclass
class Settings:
    """Server behaviour that is not ledger state."""

    submission_timeout: float = 30.0
    stream_timeout: float = 55.0


@dataclass
class Context:
    net: Network
    faults: FaultSet
    settings: Settings


CONTEXT = web.AppKey("simnet", Context)


class BadParam(Exception):
    """A query parameter Horizon would reject with 400 bad_request."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def hal(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(body, indent=2).encode(),
                        headers={"Content-Type": HAL_CONTENT_TYPE})


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def ctx_of(request: web.Request) -> Context:
    return request.app[CONTEXT]
