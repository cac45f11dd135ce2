"""An anchor on simnet for the deposit tests (and the log-secrets check that drives one): an
issued asset, a funded distribution account, an ``Asset`` row with its encrypted seed and
settings pointing at simnet."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import dramatiq
import pytest
from stellar_sdk import Asset as SdkAsset
from stellar_sdk import Keypair, Server, TransactionBuilder

from anchor_dramatiq import config
from anchor_dramatiq.crypto import Secret, encrypt_seed
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.models import Asset, Transaction
from anchor_dramatiq.network.interface import Network
from anchor_dramatiq.network.shared import shared_network
from simnet import Simnet


@dataclass
class Anchor:
    sim: Simnet
    issuer: Keypair
    distribution: Keypair
    asset: Asset
    settings: config.Settings

    @property
    def sdk_asset(self) -> SdkAsset:
        return SdkAsset(self.asset.code, self.issuer.public_key)

    def server(self) -> Server:
        """simnet's Horizon, for the test's own look at the ledger and the wallets' payments."""
        return Server(self.sim.url)

    def network(self) -> Network:
        """The anchor's client of its configured network API (the one the flows use)."""
        return shared_network(self.settings)

    def submit(self, source: Keypair, build: Callable[[TransactionBuilder], object],
               signers: list[Keypair] | None = None) -> dict:
        with self.server() as server:
            builder = TransactionBuilder(server.load_account(source.public_key),
                                         self.settings.network_passphrase, 100)
            build(builder)
            envelope = builder.set_timeout(30).build()
            for signer in signers or [source]:
                envelope.sign(signer)
            return server.submit_transaction(envelope)

    def wallet(self, trust: bool = True, fund: bool = True) -> Keypair:
        """A user account: funded by friendbot and trusting the asset, unless told otherwise."""
        keypair = Keypair.random()
        if fund:
            self.sim.friendbot(keypair.public_key)
            if trust:
                self.submit(keypair, lambda b: b.append_change_trust_op(self.sdk_asset))
        return keypair

    def balance(self, account: str) -> Decimal | None:
        try:
            return Decimal(str(self.sim.balance(account, self.sdk_asset)))
        except LookupError:
            return None

    def payments_to(self, account: str) -> list[dict]:
        """Payment-type operations that moved the asset to ``account``, successful ones only."""
        key = f"{self.asset.code}:{self.issuer.public_key}"
        return [p for p in self.sim.payments(account)
                if p["to"] == account and p["asset"] == key and p["successful"]]

    def deposit(self, destination: str, amount: str = "10", *, status: str = "pending_anchor",
                submission_status: str = "ready", **fields) -> Transaction:
        amount_in = Decimal(amount)
        defaults = dict(amount_in=amount_in, amount_fee=Decimal(0), amount_out=amount_in,
                        amount_expected=amount_in, queued_at=utcnow())
        if status != "pending_anchor":
            defaults.update(amount_in=None, amount_fee=None, amount_out=None)
        defaults.update(fields)
        return Transaction.create(id=uuid.uuid4(), stellar_account=destination, to_address=destination,
                                  kind="deposit", protocol="sep24", status=status,
                                  submission_status=submission_status, asset=self.asset, **defaults)


def on_network(settings: config.Settings, sim: Simnet, network_api: str) -> config.Settings:
    """``settings`` with the flows talking to simnet over ``network_api`` (horizon or rpc)."""
    return settings.replace(horizon_url=sim.url, network_api=network_api, rpc_url=f"{sim.url}/rpc",
                            network_passphrase=sim.network.passphrase)


def make_anchor(sim: Simnet, settings: config.Settings, code: str = "USDC",
                supply: str = "1000000") -> Anchor:
    issuer, distribution = Keypair.random(), Keypair.random()
    sim.friendbot(issuer.public_key)
    sim.friendbot(distribution.public_key)
    asset = Asset.create(code=code, issuer=issuer.public_key, significant_decimals=2,
                         distribution_seed=encrypt_seed(Secret(distribution.secret), settings.secret_key))
    anchor = Anchor(sim, issuer, distribution, asset, settings)
    anchor.submit(distribution, lambda b: b.append_change_trust_op(anchor.sdk_asset))
    anchor.submit(issuer, lambda b: b.append_payment_op(distribution.public_key, anchor.sdk_asset, supply))
    return anchor


@pytest.fixture(scope="module")
def sim() -> Iterator[Simnet]:
    with Simnet(ledger_interval=0.1, submission_timeout=3.0) as net:
        yield net


@pytest.fixture
def anchor(db: str, sim: Simnet, broker: dramatiq.Broker, request: pytest.FixtureRequest
           ) -> Iterator[Anchor]:
    """The anchor on simnet; over both network APIs when the test names ``network_api``."""
    api = request.getfixturevalue("network_api") if "network_api" in request.fixturenames else "horizon"
    settings = on_network(config.get_settings().replace(horizon_timeout=2.0, claim_timeout=30),
                          sim, api)
    config.configure(settings)
    sim.clear_faults()
    yield make_anchor(sim, settings)
    sim.clear_faults()
