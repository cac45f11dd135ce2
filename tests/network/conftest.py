"""Fixtures for the network interface: simnet, and each backend pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from stellar_sdk import Asset as SdkAsset
from stellar_sdk import Keypair, Server, TransactionBuilder

from anchor_dramatiq.network.horizon import HorizonNetwork
from anchor_dramatiq.network.interface import Network
from anchor_dramatiq.network.rpc import RpcNetwork
from anchor_dramatiq.vocabulary import NetworkApi
from simnet import Simnet

BACKENDS = [NetworkApi.HORIZON, NetworkApi.RPC]


def rpc_url(sim: Simnet) -> str:
    return sim.url.rstrip("/") + "/rpc"


def network_on(api: NetworkApi, sim: Simnet) -> Network:
    if api == NetworkApi.RPC:
        return RpcNetwork(rpc_url(sim), sim.passphrase, timeout=5)
    return HorizonNetwork(sim.url, timeout=5)


@pytest.fixture
def sim() -> Iterator[Simnet]:
    with Simnet(ledger_interval=0.2, submission_timeout=5.0, stream_timeout=5.0) as net:
        yield net


@pytest.fixture(params=BACKENDS, ids=str)
def network(request: pytest.FixtureRequest, sim: Simnet) -> Iterator[Network]:
    """Each backend, on the same simnet ledger."""
    net = network_on(request.param, sim)
    yield net
    net.close()


class Payer:
    """Builds, signs and submits transactions on simnet through Horizon (the test's own hands)."""

    def __init__(self, sim: Simnet) -> None:
        self.sim = sim
        self.server = Server(sim.url)

    def funded(self) -> Keypair:
        kp = Keypair.random()
        self.sim.friendbot(kp.public_key)
        return kp

    def envelope(self, source: Keypair, ops: Callable[[TransactionBuilder], object], memo=None,
                 timeout: int = 60, sequence_offset: int = 0) -> str:
        account = self.server.load_account(source.public_key)
        account.sequence += sequence_offset
        builder = TransactionBuilder(account, self.sim.passphrase, 100)
        ops(builder)
        if memo is not None:
            builder.add_memo(memo)
        tx = builder.set_timeout(timeout).build()
        tx.sign(source)
        return tx.to_xdr()

    def submit(self, source: Keypair, ops, memo=None) -> dict:
        return self.server.submit_transaction(self.envelope(source, ops, memo))

    def issue(self, code: str, holders: list[Keypair], amount: str = "1000") -> SdkAsset:
        issuer = self.funded()
        asset = SdkAsset(code, issuer.public_key)
        for holder in holders:
            self.submit(holder, lambda b: b.append_change_trust_op(asset))
            self.submit(issuer, lambda b, h=holder: b.append_payment_op(h.public_key, asset, amount))
        return asset


@pytest.fixture
def payer(sim: Simnet) -> Iterator[Payer]:
    p = Payer(sim)
    yield p
    p.server.close()
