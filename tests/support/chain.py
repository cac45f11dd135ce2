"""An anchor on simnet for the withdrawal tests: issuers, a distribution account, a funded user."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

from stellar_sdk import Asset as SdkAsset
from stellar_sdk import Keypair, MuxedAccount, Server, TransactionBuilder
from stellar_sdk.exceptions import BadRequestError

from anchor_dramatiq.config import Settings
from anchor_dramatiq.models import Asset
from anchor_dramatiq.streaming.supervisor import Streamer
from simnet import Simnet
from support.factories import make_asset


class Chain:
    """``usd`` is the anchor's asset; ``fake_usd`` has the same code and another issuer (the
    distribution account trusts both, so a wrong-issuer payment really arrives)."""

    def __init__(self, sim: Simnet) -> None:
        self.sim = sim
        self.server = Server(sim.url)
        self.issuer, self.fake_issuer, self.dist, self.user, self.sponsor = (
            Keypair.random() for _ in range(5))
        for kp in (self.issuer, self.fake_issuer, self.dist, self.user, self.sponsor):
            sim.friendbot(kp.public_key)
        self.usd = SdkAsset("USD", self.issuer.public_key)
        self.fake_usd = SdkAsset("USD", self.fake_issuer.public_key)
        for holder in (self.dist, self.user):
            self.submit(holder, lambda b: (b.append_change_trust_op(self.usd),
                                           b.append_change_trust_op(self.fake_usd)))
        self.submit(self.issuer, lambda b: b.append_payment_op(self.user.public_key, self.usd, "100000"))
        self.submit(self.fake_issuer, lambda b: b.append_payment_op(self.user.public_key, self.fake_usd,
                                                                    "1000"))

    def register(self, significant_decimals: int = 2) -> Asset:
        asset, account = make_asset("USD", self.issuer.public_key, self.dist.secret,
                                    significant_decimals=significant_decimals)
        assert account == self.dist.public_key
        return asset

    @property
    def account(self) -> str:
        return self.dist.public_key

    def build(self, source: Keypair, ops, memo=None):
        builder = TransactionBuilder(self.server.load_account(source.public_key), self.sim.passphrase, 100)
        ops(builder)
        if memo is not None:
            builder.add_memo(memo)
        tx = builder.set_timeout(60).build()
        tx.sign(source)
        return tx

    def submit(self, source: Keypair, ops, memo=None) -> dict:
        return self.server.submit_transaction(self.build(source, ops, memo))

    def pay(self, amount: str = "10", memo=None, asset: SdkAsset | None = None,
            destination: str | None = None) -> dict:
        return self.submit(self.user, lambda b: b.append_payment_op(
            destination or self.account, asset or self.usd, amount), memo)

    def pay_fee_bumped(self, amount: str, memo) -> dict:
        inner = self.build(self.user, lambda b: b.append_payment_op(self.account, self.usd, amount), memo)
        bump = TransactionBuilder.build_fee_bump_transaction(self.sponsor.public_key, 200, inner,
                                                             self.sim.passphrase)
        bump.sign(self.sponsor)
        return self.server.submit_transaction(bump)

    def pay_failing(self, amount: str, memo) -> None:
        """A transaction whose payment to the anchor is followed by an op that fails: nothing lands."""
        try:
            self.submit(self.user, lambda b: (
                b.append_payment_op(self.account, self.usd, amount),
                b.append_payment_op(self.account, self.fake_usd, "999999")), memo)
        except BadRequestError:
            return
        raise AssertionError("the transaction should have failed")

    def muxed(self, muxed_id: int) -> str:
        return MuxedAccount(self.account, muxed_id).account_muxed

    def balance(self) -> Decimal:
        return self.sim.balance(self.account, self.usd)


class StreamerThread:
    """The streamer core on its own event loop in a thread (the process version is streamer.py)."""

    def __init__(self, settings: Settings, broker) -> None:
        self.streamer = Streamer(settings, broker, accounts_refresh=0.5)
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.stop_event = asyncio.Event()
            self.started.set()
            await self.streamer.run(self.stop_event)

        self.loop.run_until_complete(main())

    def __enter__(self) -> StreamerThread:
        self.thread.start()
        self.started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)
        assert not self.thread.is_alive(), "streamer did not stop"
