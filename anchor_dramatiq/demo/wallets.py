"""The demo's wallet users: they pay their withdrawals on simnet, as a careful wallet would.

A careful wallet keeps the envelope it signed and settles a timeout by the hash, so the
demo's users never pay twice either, even with faults on.
"""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from stellar_sdk import Asset as StellarAsset
from stellar_sdk import Keypair, Server, TransactionBuilder
from stellar_sdk.exceptions import BadResponseError, ConnectionError, NotFoundError

from anchor_dramatiq.demo.world import World
from anchor_dramatiq.models import Transaction
from anchor_dramatiq.stellar.horizon import horizon_server


def pay(server: Server, world: World, payer: Keypair, asset: StellarAsset, amount: Decimal,
        memo_hash: str | None) -> str:
    """Pay the distribution account once; return the transaction hash."""
    builder = TransactionBuilder(server.load_account(payer.public_key), world.sim.passphrase,
                                 base_fee=100)
    builder.append_payment_op(world.distribution.public_key, asset, str(amount))
    if memo_hash:
        builder.add_hash_memo(base64.b64decode(memo_hash))
    envelope = builder.set_timeout(60).build()
    envelope.sign(payer)
    deadline = time.monotonic() + 60
    while True:
        try:
            server.submit_transaction(envelope, skip_memo_required_check=True)
            return envelope.hash_hex()
        except (BadResponseError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            try:
                server.transactions().transaction(envelope.hash_hex()).call()
                return envelope.hash_hex()
            except (NotFoundError, BadResponseError, ConnectionError):
                time.sleep(0.5)  # not applied (yet): resubmit the same envelope


def pay_withdrawals(world: World, settings: object) -> None:
    """Each user pays its withdrawal; one stray user sends a look-alike asset and a memo-less payment."""
    server = horizon_server(settings)  # type: ignore[arg-type]
    rows = {row.id: row for row in Transaction.select().where(Transaction.id.in_(world.withdrawals))}
    stray = world.withdrawers[-1]
    try:
        if world.withdrawals:
            first = rows[world.withdrawals[0]]
            pay(server, world, stray, world.fake_asset, first.amount_expected, first.memo)
        pay(server, world, stray, world.stellar_asset, Decimal("12.34"), None)
        with ThreadPoolExecutor(max_workers=8) as pool:
            jobs = [pool.submit(pay, server, world, world.withdrawers[i], world.stellar_asset,
                                rows[tx_id].amount_expected, rows[tx_id].memo)
                    for i, tx_id in enumerate(world.withdrawals)]
            for job in jobs:
                job.result()
    finally:
        server.close()
