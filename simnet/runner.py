"""Starting simnet: on an event loop you own (``start_server``) or in a background thread
(:class:`Simnet`, for tests, scripts and the one-process demo).

The background thread owns its own event loop; every method of :class:`Simnet` hops onto that
loop, so the ledger is only ever touched from one thread and needs no locks.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web
from stellar_sdk import Asset, Keypair, StrKey

from . import resources, snapshots
from .app import build_app
from .assets import NATIVE, key_for
from .context import SimnetSettings
from .faults import FaultSet
from .ledger import BASE_RESERVE
from .network import FRIENDBOT_STARTING_BALANCE, STANDALONE_PASSPHRASE, FriendbotError, Network
from .units import to_decimal, to_stroops

R = TypeVar("R")


@dataclass
class RunningServer:
    """A started server: its URL, network, faults and how to stop it."""

    url: str
    net: Network
    faults: FaultSet
    runner: web.AppRunner
    ticker: asyncio.Task

    async def close(self) -> None:
        self.ticker.cancel()
        await asyncio.gather(self.ticker, return_exceptions=True)
        await self.runner.cleanup()


async def start_server(*, host: str = "127.0.0.1", port: int = 0, ledger_interval: float = 1.0,
                       ledger_capacity: int = 1000, passphrase: str = STANDALONE_PASSPHRASE,
                       base_fee: int = 100, base_reserve: int = BASE_RESERVE,
                       submission_timeout: float = 30.0, stream_timeout: float = 55.0,
                       rpc_retention_window: int = 120_960,
                       faults: list[dict[str, Any]] | None = None,
                       seed: int | None = None) -> RunningServer:
    """Start simnet on the running loop; ``port=0`` picks a free port."""
    if ledger_interval <= 0 or ledger_capacity < 1 or rpc_retention_window < 1:
        raise ValueError("ledger_interval must be > 0, ledger_capacity and "
                         "rpc_retention_window >= 1")
    net = Network(passphrase=passphrase, ledger_interval=ledger_interval,
                  ledger_capacity=ledger_capacity, base_fee=base_fee, base_reserve=base_reserve)
    fault_set = FaultSet(seed)
    for spec in faults or []:
        spec = dict(spec)
        fault_set.add(spec.pop("kind"), **spec)
    app = build_app(net, fault_set, SimnetSettings(submission_timeout, stream_timeout,
                                                       rpc_retention_window))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    site = web.SockSite(runner, sock)
    await site.start()
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    ticker = asyncio.create_task(net.run(), name="simnet-ledgers")
    return RunningServer(f"http://{shown}:{bound}", net, fault_set, runner, ticker)


def _asset_key(asset: Asset | str | None, issuer: str | None = None) -> str:
    if isinstance(asset, Asset):
        return NATIVE if asset.is_native() else f"{asset.code}:{asset.issuer}"
    if asset is not None and ":" in asset:
        return snapshots.parse_asset(asset)
    return key_for(asset, issuer)


class Simnet:
    """A simulated Stellar network with a Horizon API, running in a background thread.

    Usage::

        with Simnet(ledger_interval=0.1) as sim:
            server = stellar_sdk.Server(sim.url)
            sim.friendbot(keypair.public_key)          # 10,000 XLM
            ...build, sign with sim.passphrase, server.submit_transaction(tx)...
            assert sim.balance(dest, "USD", issuer) == Decimal("12.5")
            sim.add_fault("submit_timeout", applied=True, count=1)

    Constructor arguments: ``host``/``port`` (default 127.0.0.1 and a free port),
    ``ledger_interval`` (seconds between ledger closes), ``ledger_capacity`` (operations per
    ledger), ``passphrase``, ``base_fee`` (stroops per operation), ``base_reserve`` (stroops),
    ``submission_timeout`` (seconds a synchronous POST /transactions waits before its 504),
    ``stream_timeout`` (seconds before a stream is closed with byebye, Horizon's 55 s),
    ``rpc_retention_window`` (ledgers of transactions and events Stellar RPC at ``/rpc`` keeps),
    ``faults`` (fault specs armed at start, each ``{"kind": ..., **params}``) and ``seed``
    (for probabilistic faults). Fault kinds are documented in ``faults.py``.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, ledger_interval: float = 1.0,
                 ledger_capacity: int = 1000, passphrase: str = STANDALONE_PASSPHRASE,
                 base_fee: int = 100, base_reserve: int = BASE_RESERVE,
                 submission_timeout: float = 30.0, stream_timeout: float = 55.0,
                 rpc_retention_window: int = 120_960,
                 faults: list[dict[str, Any]] | None = None, seed: int | None = None) -> None:
        self._options = dict(host=host, port=port, ledger_interval=ledger_interval,
                             ledger_capacity=ledger_capacity, passphrase=passphrase,
                             base_fee=base_fee, base_reserve=base_reserve,
                             submission_timeout=submission_timeout,
                             stream_timeout=stream_timeout,
                             rpc_retention_window=rpc_retention_window, faults=faults, seed=seed)
        self.passphrase = passphrase
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: RunningServer | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Simnet:
        """Start the server thread; returns once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("simnet is already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure),
                                        name="simnet", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready, failure))
        finally:
            loop.close()

    async def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            self._server = await start_server(**self._options)
            self._stop = asyncio.Event()
        except BaseException as exc:  # reported to the thread that called start()
            failure.append(exc)
            ready.set()
            return
        ready.set()
        await self._stop.wait()
        await self._server.close()

    def stop(self) -> None:
        """Stop the server and its thread (idempotent)."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> Simnet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- plumbing -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Horizon URL, e.g. ``http://127.0.0.1:38211``."""
        return self._running().url

    @property
    def network(self) -> Network:
        """The underlying :class:`Network` (only touch it through :meth:`call`)."""
        return self._running().net

    def _running(self) -> RunningServer:
        if self._server is None or self._thread is None:
            raise RuntimeError("simnet is not running; call start() first")
        return self._server

    def call(self, fn: Callable[[], R], timeout: float = 30.0) -> R:
        """Run ``fn()`` on simnet's loop (where the ledger lives) and return its result."""
        self._running()

        async def run() -> R:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def _await(self, make: Callable[[], Any], timeout: float) -> Any:
        async def run() -> Any:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    # --- accounts and ledger state ------------------------------------------------------------

    @property
    def root_keypair(self) -> Keypair:
        """The network's root account (holds half of all lumens); handy as a funder or issuer."""
        return self.network.root

    @property
    def latest_ledger(self) -> int:
        return self.call(lambda: self.network.latest_ledger)

    def friendbot(self, address: str, amount: Decimal | str | int | None = None,
                  timeout: float = 30.0) -> dict[str, Any]:
        """Create and fund ``address`` (default 10,000 XLM); returns the Horizon transaction.

        Waits for the ledger that creates the account. Raises ValueError if it already exists.
        """
        if not StrKey.is_valid_ed25519_public_key(address):
            raise ValueError(f"not an account id: {address!r}")
        stroops = FRIENDBOT_STARTING_BALANCE if amount is None else to_stroops(amount)
        net = self.network
        try:
            record = self._await(lambda: net.friendbot(address, stroops), timeout)
        except FriendbotError as exc:
            raise ValueError(f"{address} already exists") from exc
        return self.call(lambda: resources.transaction(record, self.url))

    def balance(self, account: str, asset_code: str | Asset | None = None,
                issuer: str | None = None) -> Decimal:
        """Exact balance of XLM (no asset) or ``asset_code``/``issuer``.

        ``asset_code`` may also be a stellar-sdk Asset or ``"CODE:ISSUER"``. Raises LookupError
        if the account or the trustline does not exist. An issuer's own asset is unlimited and
        also raises LookupError.
        """
        key = _asset_key(asset_code, issuer)

        def read() -> int | None:
            acc = self.network.state.account(account)
            if acc is None:
                return None
            if key == NATIVE:
                return acc.balance
            line = acc.trustlines.get(key)
            return None if line is None else line.balance

        stroops = self.call(read)
        if stroops is None:
            raise LookupError(f"{account} has no {key} balance")
        return to_decimal(stroops)

    def account(self, address: str) -> dict[str, Any] | None:
        """Snapshot of an account (balances with exact stroops), or None if it does not exist."""
        def read() -> dict[str, Any] | None:
            acc = self.network.state.account(address)
            return None if acc is None else snapshots.account(acc)

        return self.call(read)

    def transactions(self, account: str | None = None) -> list[dict[str, Any]]:
        """Applied transactions (all, or those ``account`` took part in), oldest first."""
        return self.call(lambda: snapshots.transactions(self.network, account))

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        """One applied transaction by outer or inner hash, or None."""
        def read() -> dict[str, Any] | None:
            rec = self.network.lookup(tx_hash)
            return None if rec is None else snapshots.transaction(rec)

        return self.call(read)

    def payments(self, account: str | None = None) -> list[dict[str, Any]]:
        """Applied payment-like operations (incl. failed ones, see ``successful``)."""
        return self.call(lambda: snapshots.payments(self.network, account))

    def close_ledger(self) -> int:
        """Close a ledger right now (besides the timer); returns its sequence."""
        return self.call(lambda: self.network.close_ledger().sequence)

    def wait_for_ledgers(self, count: int = 1, timeout: float = 30.0) -> int:
        """Block until ``count`` more ledgers have closed; returns the latest sequence."""
        target = self.latest_ledger + count
        net = self.network

        async def wait() -> int:
            while net.latest_ledger < target:
                await net.wait_for_ledger(timeout)
            return net.latest_ledger

        return self._await(wait, timeout)

    # --- rates and faults ---------------------------------------------------------------------

    def set_rate(self, sell: Asset | str, buy: Asset | str, rate: Decimal | str | float) -> None:
        """Path payments convert ``sell`` to ``buy`` at ``rate`` (units of buy per sell).

        Assets are stellar-sdk Assets, ``"native"`` or ``"CODE:ISSUER"``.
        """
        sell_key, buy_key = _asset_key(sell), _asset_key(buy)
        self.call(lambda: self.network.rates.set(sell_key, buy_key, rate))

    def clear_rates(self) -> None:
        self.call(self.network.rates.clear)

    def add_fault(self, kind: str, *, count: int | None = None, probability: float = 1.0,
                  match: str | None = None, **params: Any) -> int:
        """Arm a fault (see ``faults.py`` for kinds); returns its id."""
        faults = self._running().faults
        return self.call(lambda: faults.add(kind, count=count, probability=probability,
                                            match=match, **params).id)

    def remove_fault(self, fault_id: int) -> bool:
        faults = self._running().faults
        return self.call(lambda: faults.remove(fault_id))

    def clear_faults(self) -> None:
        self.call(self._running().faults.clear)

    def faults(self) -> list[dict[str, Any]]:
        """Armed faults with their remaining counts."""
        return self.call(self._running().faults.list)
