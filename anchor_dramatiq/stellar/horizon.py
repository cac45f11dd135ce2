"""Horizon clients with timeouts shorter than any actor's time limit, and no hidden retries.

stellar-sdk's RequestsClient retries a 504 POST three times by default; the submission
protocol settles a transaction's fate by its hash instead, so retries are switched off.
"""

from __future__ import annotations

from stellar_sdk import AiohttpClient, Server, ServerAsync
from stellar_sdk.client.requests_client import RequestsClient

from anchor_dramatiq.config import Settings


def horizon_server(settings: Settings) -> Server:
    """A synchronous Horizon client for actors."""
    timeout = settings.horizon_timeout
    # stellar-sdk annotates the timeouts as int; requests takes the float as it is
    client = RequestsClient(num_retries=0, request_timeout=timeout, post_timeout=timeout)  # type: ignore[arg-type]
    return Server(settings.horizon_url, client=client)


def horizon_server_async(settings: Settings) -> ServerAsync:
    """An asyncio Horizon client for the streamer."""
    timeout = settings.horizon_timeout
    client = AiohttpClient(request_timeout=timeout, post_timeout=timeout)
    return ServerAsync(settings.horizon_url, client=client)
