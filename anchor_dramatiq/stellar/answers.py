"""Horizon reads that keep who answered: the status and the answering node's ``Latest-Ledger``.

A money decision may rest on "Horizon does not know this" only when the answer says how far
the node that gave it had ingested: Horizon puts its latest ingested ledger in the
``Latest-Ledger`` header of every response. A 404 from a load balancer with no ready backend,
a 429 from a rate limiter, a 5xx or a timeout carry no such header and prove nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stellar_sdk import Server
from stellar_sdk.exceptions import BaseRequestError, ConnectionError

LATEST_LEDGER = "latest-ledger"


@dataclass(frozen=True)
class Answer:
    """One GET: ``status`` None when no HTTP answer came at all."""

    status: int | None
    body: dict[str, Any] | None
    latest_ledger: int | None
    summary: str

    @property
    def found(self) -> bool:
        return self.status == 200 and self.body is not None

    @property
    def missing(self) -> bool:
        """Horizon itself (a node that says how far it has ingested) does not know it."""
        return self.status == 404 and self.latest_ledger is not None


def read(server: Server, path: str) -> Answer:
    """GET ``path`` through the server's own HTTP client (same session, timeouts, headers).

    stellar-sdk's call builders drop the response headers, so the client is used directly.
    """
    url = server.horizon_url.rstrip("/") + path
    try:
        response = server._client.get(url)
    except (ConnectionError, BaseRequestError) as exc:
        return Answer(None, None, None, f"no answer: {type(exc).__name__}")
    latest = next((value for name, value in response.headers.items()
                   if name.lower() == LATEST_LEDGER), None)
    try:
        body = response.json()
    except ValueError:
        body = None
    title = body.get("title") if isinstance(body, dict) else None
    return Answer(response.status_code, body if isinstance(body, dict) else None,
                  int(latest) if latest and str(latest).isdigit() else None,
                  f"{response.status_code} {title or ''}".strip())
