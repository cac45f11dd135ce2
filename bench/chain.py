"""Accounts on simnet for the benchmarks: an issuer, a distribution account holding USD,
wallets that trust it and payers that hold it (works with ``Simnet`` or ``SimnetProcess``)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from stellar_sdk import Asset, Keypair, Server, TransactionBuilder


class Chain:
    """Issuer, distribution account holding USD, trusting wallets and paying users on simnet."""

    def __init__(self, sim: Any, wallets: int = 0, payers: int = 0) -> None:
        self.sim, self.server = sim, Server(sim.url)
        self.issuer, self.distribution = Keypair.random(), Keypair.random()
        sim.friendbot(self.issuer.public_key)
        sim.friendbot(self.distribution.public_key)
        self.usd = Asset("USD", self.issuer.public_key)
        self.submit(self.distribution, lambda b: b.append_change_trust_op(self.usd))
        self.submit(self.issuer, lambda b: b.append_payment_op(self.distribution.public_key, self.usd,
                                                               "100000000"))
        self.wallets = self._holders(wallets, fund=False)
        self.payers = self._holders(payers, fund=True)

    def submit(self, source: Keypair, ops: Callable, signers: list[Keypair] = (), memo=None) -> dict:
        builder = TransactionBuilder(self.server.load_account(source.public_key), self.sim.passphrase, 100)
        ops(builder)
        if memo is not None:
            builder.add_memo(memo)
        envelope = builder.set_timeout(120).build()
        for keypair in (source, *signers):
            envelope.sign(keypair)
        return self.server.submit_transaction(envelope, skip_memo_required_check=True)

    def _holders(self, count: int, fund: bool) -> list[Keypair]:
        """Accounts trusting USD (100 created per transaction, 19 trustlines: 20 signatures max).
        Payers get 5 XLM (the issuer's 10,000 from friendbot then create a thousand), wallets 20."""
        keys = [Keypair.random() for _ in range(count)]
        starting = "5" if fund else "20"
        for i in range(0, count, 100):
            self.submit(self.issuer, lambda b, g=keys[i:i + 100]: [
                b.append_create_account_op(k.public_key, starting) for k in g])
        for i in range(0, count, 19):
            group = keys[i:i + 19]
            self.submit(self.issuer, lambda b, g=group: [
                b.append_change_trust_op(self.usd, source=k.public_key) for k in g], signers=group)
        if fund:
            for i in range(0, count, 100):
                self.submit(self.issuer, lambda b, g=keys[i:i + 100]: [
                    b.append_payment_op(k.public_key, self.usd, "1000000") for k in g])
        return keys

    def usd_balance(self, account: str) -> Decimal:
        return self.sim.balance(account, self.usd)
