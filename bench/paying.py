"""Many one-payment transactions onto simnet, one per payer per ledger, as wallets pay.

A payer's transactions are built and signed ahead of time with consecutive sequence numbers
(in a process pool: signing is the bench's cost, not the anchor's or simnet's); then each
*round* (at most one transaction per payer) is POSTed to ``/transactions_async`` and the next
round waits for the ledger that holds it to close, since a source's next sequence number is
valid only once its previous transaction applied. The closes are watched by polling
Horizon's root (``history_latest_ledger``) every ``POLL_S``; the time each ledger was first
seen closed is kept, so a payment's delay can be measured from its ledger's close.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import aiohttp
from stellar_sdk import Account, Asset, HashMemo, IdMemo, Keypair, Memo, TextMemo, TransactionBuilder

POLL_S = 0.01
CONNECTIONS = 64
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class Pay:
    """One payment of a transaction of its own: to ``destination``, ``amount`` of an asset, with
    the ``n``-th memo (:func:`memo_of`)."""

    n: int
    destination: str
    code: str
    issuer: str
    amount: str


def memo_of(n: int) -> tuple[Memo, str, str]:
    """Payment ``n``'s memo, and how Horizon (so ``anchor_payment`` and Polaris) writes it and
    its type: hash, text and id memos in turn."""
    kind = n % 3
    if kind == 0:
        digest = hashlib.sha256(f"bench-{n}".encode()).digest()
        return HashMemo(digest), base64.b64encode(digest).decode(), "hash"
    if kind == 1:
        return TextMemo(f"bench-{n}"), f"bench-{n}", "text"
    return IdMemo(1_000_000 + n), str(1_000_000 + n), "id"


def _sign(secret: str, sequence: int, passphrase: str, pays: Sequence[Pay]) -> list[str]:
    """In a pool process: one payer's envelopes, consecutive sequence numbers, no time bound."""
    keypair = Keypair.from_secret(secret)
    account = Account(keypair.public_key, sequence)
    out = []
    for pay in pays:
        envelope = (TransactionBuilder(account, passphrase, 100)
                    .append_payment_op(pay.destination, Asset(pay.code, pay.issuer), pay.amount)
                    .add_memo(memo_of(pay.n)[0]).add_time_bounds(0, 0).build())
        envelope.sign(keypair)
        out.append(envelope.to_xdr())
    return out


def sign_all(sequences: dict[str, int], passphrase: str, plan: dict[str, list[Pay]],
             workers: int = 2) -> dict[str, list[str]]:
    """Every payer's envelopes (payer secret -> its pays, in order), signed in ``workers`` processes."""
    with ProcessPoolExecutor(workers) as pool:
        futures = {secret: pool.submit(_sign, secret, sequences[secret], passphrase, pays)
                   for secret, pays in plan.items()}
        return {secret: future.result() for secret, future in futures.items()}


def rounds(envelopes: dict[str, list[str]]) -> list[list[str]]:
    """Round ``k`` holds each payer's ``k``-th envelope."""
    out: list[list[str]] = []
    for mine in envelopes.values():
        for k, envelope in enumerate(mine):
            if k == len(out):
                out.append([])
            out[k].append(envelope)
    return out


class LedgerWatch:
    """The latest closed ledger, polled, and when each ledger was first seen closed."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url
        self.latest = 0
        self.seen: dict[int, float] = {}
        self._changed = asyncio.Condition()

    async def run(self) -> None:
        while True:
            async with self.http.get(self.url + "/") as response:
                latest = int((await response.json())["history_latest_ledger"])
            if latest > self.latest:
                now = time.time()
                for ledger in range(self.latest + 1, latest + 1):
                    self.seen.setdefault(ledger, now)
                self.latest = latest
                async with self._changed:
                    self._changed.notify_all()
            await asyncio.sleep(POLL_S)

    async def past(self, ledger: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.latest > ledger)


async def _post(http: aiohttp.ClientSession, url: str, envelope: str, sem: asyncio.Semaphore) -> None:
    async with sem, http.post(url + "/transactions_async", data={"tx": envelope}) as response:
        body = await response.json()
        if body.get("tx_status") != "PENDING":
            raise RuntimeError(f"submission answered {response.status}: {body}")


async def submit_rounds(url: str, batches: list[list[str]], on_round=None) -> dict[int, float]:
    """POST each round, then wait for the ledger holding it to close; when each ledger closed.

    ``on_round(k, ledger)`` is called after round ``k`` is in ``ledger`` or earlier (for progress
    and backlog samples)."""
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as http:
        watch = LedgerWatch(http, url)
        watcher = asyncio.create_task(watch.run())
        sem = asyncio.Semaphore(CONNECTIONS)
        try:
            while watch.latest == 0:
                await asyncio.sleep(POLL_S)
            for k, batch in enumerate(batches):
                await asyncio.gather(*(_post(http, url, envelope, sem) for envelope in batch))
                async with http.get(url + "/") as response:  # fresh: the poll may be 10 ms old
                    admitted_in = int((await response.json())["history_latest_ledger"]) + 1
                await watch.past(admitted_in - 1)
                if on_round is not None:
                    on_round(k, admitted_in)
            return dict(watch.seen)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


def pay_rounds(url: str, batches: list[list[str]], on_round=None) -> dict[int, float]:
    return asyncio.run(submit_rounds(url, batches, on_round))
