"""getEvents throughput on simnet's Stellar RPC: page through N transfer events to one account.

simnet runs in its own process (``SimnetProcess``). 100 source accounts each send one
transaction of N/100 native payments to one destination; then the client pages
``getEvents`` (filter: ``transfer`` events to that destination) with ``--page`` events a
request, twice: the first pass builds the ledgers' CAP-67 events from history, the second reads
them from simnet's cache. Prints events/s for each pass.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from stellar_sdk import Asset, Keypair, SorobanServer, TransactionBuilder, scval
from stellar_sdk.soroban_rpc import EventFilter

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from simnet_process import SimnetProcess  # noqa: E402

from simnet.envelopes import network_id  # noqa: E402

SOURCES = 100


def _submit_and_wait(rpc: SorobanServer, txs: list) -> None:
    for tx in txs:
        assert rpc.send_transaction(tx).status.value == "PENDING"
    for tx in txs:
        rpc.poll_transaction(tx.hash_hex(), sleep_strategy=lambda _: 0.2)


def _fill(sim: SimnetProcess, rpc: SorobanServer, events: int) -> tuple[str, int]:
    """Create the sources and the destination, then the payments; (destination, first ledger)."""
    root = Keypair.from_raw_ed25519_seed(network_id(sim.passphrase))
    sources, dest = [Keypair.random() for _ in range(SOURCES)], Keypair.random()
    for group in (sources, [dest]):  # at most 100 operations a transaction
        builder = TransactionBuilder(rpc.load_account(root.public_key), sim.passphrase, 100)
        for kp in group:
            builder.append_create_account_op(kp.public_key, "1000")
        tx = builder.set_timeout(120).build()
        tx.sign(root)
        _submit_and_wait(rpc, [tx])
    first = rpc.get_latest_ledger().sequence
    per_source = events // SOURCES
    txs = []
    for kp in sources:
        builder = TransactionBuilder(rpc.load_account(kp.public_key), sim.passphrase, 100)
        for _ in range(per_source):
            builder.append_payment_op(dest.public_key, Asset.native(), "0.0000001")
        tx = builder.set_timeout(120).build()
        tx.sign(kp)
        txs.append(tx)
    _submit_and_wait(rpc, txs)
    return dest.public_key, first


def _page_all(rpc: SorobanServer, dest: str, first: int, page: int) -> tuple[int, float]:
    topics = [[scval.to_symbol("transfer").to_xdr(), "*", scval.to_address(dest).to_xdr(), "*"]]
    filters = [EventFilter(topics=topics)]
    started = time.perf_counter()
    answer = rpc.get_events(start_ledger=first, filters=filters, limit=page)
    seen = len(answer.events)
    while answer.events:
        answer = rpc.get_events(cursor=answer.cursor, filters=filters, limit=page)
        seen += len(answer.events)
    return seen, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=1000)
    args = parser.parse_args()
    sim = SimnetProcess(ledger_interval=0.2, ledger_capacity=20_000).start()
    try:
        with SorobanServer(sim.url + "/rpc") as rpc:
            dest, first = _fill(sim, rpc, args.events)
            print(f"load average at start: {os.getloadavg()[0]:.1f}")
            for label in ("cold (built from history)", "warm (cached)"):
                seen, seconds = _page_all(rpc, dest, first, args.page)
                print(f"{label}: {seen} events in {seconds:.2f} s = {seen / seconds:,.0f} "
                      f"events/s (page {args.page})")
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
