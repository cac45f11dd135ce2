"""How many payment operations per second simnet applies on this machine.

Two scenarios, each with pre-signed transactions (signing is the client's cost, not simnet's):
``1-op`` (one payment per transaction, one transaction per source account, as channel accounts
submit) and ``100-op`` (batched payments). Each is measured two ways:

- ``end-to-end``: POST /transactions_async over HTTP with ledgers closing on their timer, from
  the first POST until the last transaction is in a closed ledger;
- ``apply``: the same transactions queued first, then one ``close_ledger()`` timed on its own
  (validation at close, fees, sequence numbers, operations, history indexing).

The HTTP client (aiohttp, 64 connections) runs in its own process(es) (``--clients``), so
end-to-end figures measure simnet rather than the client. Because wall-clock figures depend on
whatever else the machine runs, the CPU time of simnet's own thread is reported too: ``admit
µs/tx`` is simnet's CPU per submission (HTTP parsing, decoding, core's checks, the response)
and ``simnet CPU ops/s`` is payments per second of simnet CPU over the end-to-end run;
``client µs/tx`` is the clients' CPU per submission; ``apply CPU ops/s`` is the ``apply``
close measured in simnet CPU time.

Run: ``python bench/simnet_throughput.py`` (``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from urllib.parse import urlencode

import aiohttp
from stellar_sdk import Account, Asset, Keypair, TransactionBuilder

from simnet import Simnet

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CONNECTIONS = 64


@dataclass
class Figures:
    end_to_end: float  # ops/s, wall clock
    e2e_cpu: float  # ops per second of simnet-thread CPU during end-to-end
    admit_us: float  # simnet-thread CPU per submitted transaction, µs
    client_us: float  # client CPU per submitted transaction, µs
    apply: float  # ops/s of one close_ledger(), wall clock
    apply_cpu: float  # ops per second of simnet-thread CPU in that close_ledger()


# --- client process -----------------------------------------------------------------------


def _client(conn: Connection, url: str, bodies: list[bytes]) -> None:
    """Child process: connect, say ready, wait for go, POST every body, say done."""
    asyncio.run(_client_main(conn, url, bodies))


async def _client_main(conn: Connection, url: str, bodies: list[bytes]) -> None:
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as http:
        sem = asyncio.Semaphore(CONNECTIONS)

        async def warm() -> None:
            async with sem, http.get(f"{url}/") as resp:
                await resp.read()

        await asyncio.gather(*(warm() for _ in range(CONNECTIONS)))
        conn.send("ready")
        await loop.run_in_executor(None, conn.recv)
        cpu = time.process_time()

        async def one(body: bytes) -> None:
            async with sem, http.post(f"{url}/transactions_async", data=body,
                                      headers=FORM) as resp:
                text = await resp.text()
                if resp.status != 201:
                    raise AssertionError(f"{resp.status}: {text}")

        await asyncio.gather(*(one(b) for b in bodies))
        conn.send(time.process_time() - cpu)


def _spawn_clients(url: str, bodies: list[bytes], clients: int) -> list[tuple[mp.Process,
                                                                             Connection]]:
    ctx = mp.get_context("spawn")
    started = []
    for i in range(clients):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_client, args=(child, url, bodies[i::clients]), daemon=True)
        proc.start()
        started.append((proc, parent))
    for _, parent in started:
        if parent.recv() != "ready":
            raise RuntimeError("client failed to start")
    return started


def _join(clients: list[tuple[mp.Process, Connection]]) -> float:
    """Wait for the clients; their CPU seconds spent submitting."""
    cpu = 0.0
    for proc, parent in clients:
        cpu += parent.recv()
        proc.join(10)
        if proc.exitcode != 0:
            raise RuntimeError(f"client exited with {proc.exitcode}")
    return cpu


# --- simnet side --------------------------------------------------------------------------


async def _fund(url: str, count: int) -> list[Keypair]:
    kps = [Keypair.random() for _ in range(count)]
    sem = asyncio.Semaphore(200)
    async with aiohttp.ClientSession() as http:
        async def one(kp: Keypair) -> None:
            async with sem, http.get(f"{url}/friendbot", params={"addr": kp.public_key}) as resp:
                assert resp.status == 200, await resp.text()

        await asyncio.gather(*(one(kp) for kp in kps))
    return kps


def _sign_all(sim: Simnet, sources: list[Keypair], dest: str, ops_per_tx: int) -> list[bytes]:
    """Signed, form-encoded POST bodies (aiohttp's own form encoding would dominate)."""
    envelopes = []
    for kp in sources:
        seq = sim.account(kp.public_key)["sequence"]
        builder = TransactionBuilder(Account(kp.public_key, seq), sim.passphrase, 100)
        for _ in range(ops_per_tx):
            builder.append_payment_op(dest, Asset.native(), "0.0000001")
        tx = builder.set_timeout(300).build()
        tx.sign(kp)
        envelopes.append(urlencode({"tx": tx.to_xdr()}).encode())
    return envelopes


def _applied(sim: Simnet) -> int:
    return sim.call(lambda: len(sim.network.history.transactions))


def _cpu(sim: Simnet) -> float:
    """CPU seconds used so far by simnet's thread (its event loop does all of simnet's work)."""
    return sim.call(time.thread_time)


def _prepare(sim: Simnet, txs: int, ops_per_tx: int) -> list[bytes]:
    sources = asyncio.run(_fund(sim.url, txs + 1))
    dest = sources.pop().public_key
    return _sign_all(sim, sources, dest, ops_per_tx)


def _check(sim: Simnet, before: int, txs: int) -> None:
    assert _applied(sim) == before + txs
    assert all(t["successful"] for t in sim.transactions()[before:])


def end_to_end(txs: int, ops_per_tx: int, interval: float, clients: int) -> tuple[float, float]:
    """(wall-clock ops/s, ops per simnet CPU second) with ledgers closing on their timer."""
    with Simnet(ledger_interval=interval, ledger_capacity=txs * ops_per_tx) as sim:
        bodies = _prepare(sim, txs, ops_per_tx)
        before = _applied(sim)
        gc.collect()  # garbage of earlier runs is not this run's cost
        procs = _spawn_clients(sim.url, bodies, clients)
        cpu, started = _cpu(sim), time.perf_counter()
        for _, parent in procs:
            parent.send("go")
        while _applied(sim) < before + txs:
            time.sleep(0.005)
        elapsed, cpu = time.perf_counter() - started, _cpu(sim) - cpu
        _join(procs)
        _check(sim, before, txs)
    return txs * ops_per_tx / elapsed, txs * ops_per_tx / cpu


def admit_then_apply(txs: int, ops_per_tx: int,
                     clients: int) -> tuple[float, float, float, float]:
    """(simnet and client CPU µs per admitted transaction, ops/s of one close_ledger(), in
    wall-clock and in simnet CPU time)."""
    with Simnet(ledger_interval=3600, ledger_capacity=txs * ops_per_tx) as sim:
        stop = threading.Event()
        ticker = threading.Thread(target=_tick, args=(sim, stop))  # friendbot needs closes
        ticker.start()
        try:
            bodies = _prepare(sim, txs, ops_per_tx)
        finally:
            stop.set()
            ticker.join()
        before = _applied(sim)
        gc.collect()
        procs = _spawn_clients(sim.url, bodies, clients)
        cpu = _cpu(sim)
        for _, parent in procs:
            parent.send("go")
        client = _join(procs) / txs * 1e6
        admit = (_cpu(sim) - cpu) / txs * 1e6
        cpu, started = _cpu(sim), time.perf_counter()
        sim.close_ledger()
        elapsed, cpu = time.perf_counter() - started, _cpu(sim) - cpu
        _check(sim, before, txs)
    return admit, client, txs * ops_per_tx / elapsed, txs * ops_per_tx / cpu


def _tick(sim: Simnet, stop: threading.Event) -> None:
    while not stop.wait(0.05):
        sim.close_ledger()


def scenario(txs: int, ops_per_tx: int, interval: float, clients: int) -> Figures:
    e2e, e2e_cpu = end_to_end(txs, ops_per_tx, interval, clients)
    admit, client, apply, apply_cpu = admit_then_apply(txs, ops_per_tx, clients)
    return Figures(e2e, e2e_cpu, admit, client, apply, apply_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single-txs", type=int, default=3000,
                        help="1-op transactions (one per source account)")
    parser.add_argument("--batch-txs", type=int, default=100,
                        help="100-op transactions (one per source account)")
    parser.add_argument("--ledger-interval", type=float, default=0.2)
    parser.add_argument("--clients", type=int, default=1, help="HTTP client processes")
    args = parser.parse_args()
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    rows = []
    for name, txs, ops in (("1-op", args.single_txs, 1), ("100-op", args.batch_txs, 100)):
        rows.append((name, txs * ops, scenario(txs, ops, args.ledger_interval, args.clients)))
    print("| transactions | payments | end-to-end ops/s | simnet CPU ops/s | admit µs/tx "
          "| client µs/tx | apply ops/s | apply CPU ops/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, total, f in rows:
        print(f"| {name} | {total} | {f.end_to_end:,.0f} | {f.e2e_cpu:,.0f} | {f.admit_us:,.0f} "
              f"| {f.client_us:,.0f} | {f.apply:,.0f} | {f.apply_cpu:,.0f} |")


if __name__ == "__main__":
    main()
