"""Wiring one process: logging, the database, the broker, the status-change listeners and
the network client's factory.

Every entry point calls :func:`boot` once with its settings, before anything runs: the
``actors`` package (``dramatiq actors`` and ``periodiq``), ``python streamer.py``,
``anchor-dramatiq run`` and ``demo``. Importing a library module does none of this.
The actors bind to the broker installed here when they are declared, so ``actors`` is
imported after :func:`boot` — by ``dramatiq``/``periodiq`` by name, and by ``run`` and
``demo`` through :func:`declare_actors`, by name too, so no library module depends on it.
"""

from __future__ import annotations

import importlib

import dramatiq

from anchor_dramatiq import callbacks
from anchor_dramatiq.broker import build_broker
from anchor_dramatiq.config import Settings
from anchor_dramatiq.db import open_database
from anchor_dramatiq.integrations import notify_rails
from anchor_dramatiq.logs import setup_logging
from anchor_dramatiq.network import shared
from anchor_dramatiq.network.factory import network_for
from anchor_dramatiq.transitions import on_status_change

#: The package that declares the actors, named as ``dramatiq`` and ``periodiq`` name it.
ACTORS_MODULE = "actors"

_booted: dramatiq.Broker | None = None


def boot(settings: Settings) -> dramatiq.Broker:
    """Set this process up from ``settings``; returns the broker it installed.

    The listeners: the rails integration's ``on_status_change`` and the wallet callbacks
    hear every committed status change.
    """
    global _booted
    setup_logging(settings)
    open_database(settings.database_url)
    broker = build_broker(settings)
    dramatiq.set_broker(broker)
    on_status_change(notify_rails)
    on_status_change(callbacks.enqueue_callback)
    shared.use(network_for)  # the flows' Stellar client (ANCHOR_NETWORK_API), made on first use
    _booted = broker
    return broker


def booted() -> dramatiq.Broker | None:
    """The broker :func:`boot` installed in this process, if it ran."""
    return _booted


def declare_actors() -> dramatiq.Broker:
    """Import the actors onto the booted broker (``run``/``demo``: the workers need them)."""
    if _booted is None:
        raise RuntimeError("boot(settings) first: the actors bind to its broker")
    importlib.import_module(ACTORS_MODULE)
    return _booted
