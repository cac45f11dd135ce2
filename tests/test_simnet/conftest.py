"""Fixtures for simnet tests: a fresh network per test, driven through stellar-sdk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stellar_sdk import Keypair, Server, SorobanServer
from stellar_sdk.client.requests_client import RequestsClient

from simnet import Simnet


@pytest.fixture
def sim() -> Iterator[Simnet]:
    with Simnet(ledger_interval=0.1, submission_timeout=5.0, stream_timeout=5.0) as net:
        yield net


@pytest.fixture
def server(sim: Simnet) -> Iterator[Server]:
    with Server(sim.url) as srv:
        yield srv


@pytest.fixture
def no_retry_server(sim: Simnet) -> Iterator[Server]:
    """A Server whose RequestsClient does not retry 503/504 (one POST per submission)."""
    with Server(sim.url, client=RequestsClient(num_retries=0)) as srv:
        yield srv


@pytest.fixture
def funded(sim: Simnet):
    """Factory: a new keypair funded by friendbot (10,000 XLM unless told otherwise)."""
    def make(amount: str | None = None) -> Keypair:
        kp = Keypair.random()
        sim.friendbot(kp.public_key, amount)
        return kp

    return make


@pytest.fixture
def rpc(sim: Simnet) -> Iterator[SorobanServer]:
    """stellar-sdk's Stellar RPC client on simnet's /rpc endpoint."""
    with SorobanServer(sim.url + "/rpc") as client:
        yield client
