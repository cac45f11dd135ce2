"""How many payment operations per second simnet applies on this machine.

Two scenarios, each with pre-signed transactions (signing is the client's cost, not simnet's):
``1-op`` (one payment per transaction, one transaction per source account, as channel accounts
submit) and ``100-op`` (batched payments). Each is measured two ways:

- ``end-to-end``: POST /transactions_async over HTTP with ledgers closing on their timer, from
  the first POST until the last transaction is in a closed ledger;
- ``apply``: the same transactions queued first, then one ``close_ledger()`` timed on its own
  (validation at close, fees, sequence numbers, operations, history indexing).

Run: ``python bench/simnet_throughput.py`` (``--help`` for sizes). The HTTP client runs in the
same process as the server, so end-to-end figures include the client's share of the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import urlencode

import aiohttp
from stellar_sdk import Account, Asset, Keypair, TransactionBuilder

from anchor_dramatiq.simnet import Simnet

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def _fund(http: aiohttp.ClientSession, url: str, count: int) -> list[Keypair]:
    kps = [Keypair.random() for _ in range(count)]
    sem = asyncio.Semaphore(200)

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


async def _submit(http: aiohttp.ClientSession, url: str, bodies: list[bytes]) -> None:
    sem = asyncio.Semaphore(64)

    async def one(body: bytes) -> None:
        async with sem, http.post(f"{url}/transactions_async", data=body, headers=FORM) as resp:
            assert resp.status == 201, await resp.text()

    await asyncio.gather(*(one(b) for b in bodies))


def _applied(sim: Simnet) -> int:
    return sim.call(lambda: len(sim.network.history.transactions))


async def scenario(txs: int, ops_per_tx: int, interval: float) -> tuple[float, float]:
    """(end-to-end ops/s, apply-only ops/s) for ``txs`` transactions of ``ops_per_tx``."""
    capacity = txs * ops_per_tx
    connector = aiohttp.TCPConnector(limit=64)
    results = []
    async with aiohttp.ClientSession(connector=connector) as http:
        for manual in (False, True):
            with Simnet(ledger_interval=3600 if manual else interval,
                        ledger_capacity=capacity) as sim:
                if manual:
                    timer = asyncio.create_task(_tick(sim, interval))
                sources = await _fund(http, sim.url, txs + 1)
                if manual:
                    timer.cancel()
                dest = sources.pop().public_key
                envelopes = _sign_all(sim, sources, dest, ops_per_tx)
                before = _applied(sim)
                started = time.perf_counter()
                await _submit(http, sim.url, envelopes)
                if manual:
                    started = time.perf_counter()
                    sim.close_ledger()
                else:
                    while _applied(sim) < before + txs:
                        await asyncio.sleep(0.01)
                elapsed = time.perf_counter() - started
                assert _applied(sim) == before + txs
                assert all(t["successful"] for t in sim.transactions()[before:])
                results.append(capacity / elapsed)
    return results[0], results[1]


async def _tick(sim: Simnet, interval: float) -> None:
    """Close ledgers while funding a manual-close network (friendbot needs closes)."""
    while True:
        await asyncio.sleep(interval)
        await asyncio.get_running_loop().run_in_executor(None, sim.close_ledger)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single-txs", type=int, default=3000,
                        help="1-op transactions (one per source account)")
    parser.add_argument("--batch-txs", type=int, default=100,
                        help="100-op transactions (one per source account)")
    parser.add_argument("--ledger-interval", type=float, default=0.2)
    args = parser.parse_args()
    rows = []
    for name, txs, ops in (("1-op", args.single_txs, 1), ("100-op", args.batch_txs, 100)):
        e2e, apply = asyncio.run(scenario(txs, ops, args.ledger_interval))
        rows.append((name, txs * ops, e2e, apply))
    print("| transactions | payments | end-to-end ops/s | apply ops/s |")
    print("|---|---:|---:|---:|")
    for name, total, e2e, apply in rows:
        print(f"| {name} | {total} | {e2e:,.0f} | {apply:,.0f} |")


if __name__ == "__main__":
    main()
