"""This process's network client: wired by :func:`anchor_dramatiq.boot.boot`, made on first use.

The flows ask :func:`shared_network` for the client of the configured API and never close
it: one HTTP session per process (per configuration), and the fee and pace caches stay warm.
``boot`` hands in the factory (:func:`anchor_dramatiq.network.factory.network_for`), so a
flow depends on the interface only, never on the implementations (nor on what they import).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from anchor_dramatiq.config import Settings
from anchor_dramatiq.network.interface import Network

Factory = Callable[[Settings], Network]

_factory: Factory | None = None
_clients: dict[tuple[str, str, str, str, float], Network] = {}
_lock = threading.Lock()


def use(factory: Factory) -> None:
    """Wire the factory (``boot`` does); clients made by an earlier one are dropped."""
    global _factory
    with _lock:
        _factory = factory
        _clients.clear()


def shared_network(settings: Settings) -> Network:
    """The client for ``settings``' network API and endpoint, made once per process."""
    key = (settings.network_api, settings.rpc_url or "", settings.horizon_url,
           settings.network_passphrase, settings.horizon_timeout)
    with _lock:
        if _factory is None:
            raise RuntimeError("boot(settings) first: it wires the network client")
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _factory(settings)
    return client
