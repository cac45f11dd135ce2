"""The same flows through ServerAsync with AiohttpClient, and the click command."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from click.testing import CliRunner
from stellar_sdk import Asset, Keypair, ServerAsync, TransactionBuilder
from stellar_sdk.client.aiohttp_client import AiohttpClient
from stellar_sdk.exceptions import BadRequestError, BadResponseError, NotFoundError

from simnet.cli import simnet_command


def test_server_async_flows(sim, funded):
    a, b = funded(), funded()

    async def run():
        async with ServerAsync(sim.url, client=AiohttpClient()) as server:
            assert await server.fetch_base_fee() == 100
            account = await server.load_account(a.public_key)
            tx = TransactionBuilder(account, sim.passphrase, 100).append_payment_op(
                b.public_key, Asset.native(), "2").set_timeout(30).build()
            tx.sign(a)
            resp = await server.submit_transaction(tx)
            assert resp["successful"] is True
            assert (await server.transactions().transaction(tx.hash_hex()).call())["ledger"] == (
                resp["ledger"])
            second = TransactionBuilder(account, sim.passphrase, 100).append_payment_op(
                b.public_key, Asset.native(), "3").set_timeout(30).build()
            second.sign(a)
            queued = await server.submit_transaction_async(second)
            assert queued == {"tx_status": "PENDING", "hash": second.hash_hex()}
            with pytest.raises(BadRequestError):  # DUPLICATE is a 409
                await server.submit_transaction_async(second)
            deadline = time.monotonic() + 3
            while True:
                try:
                    return await server.transactions().transaction(second.hash_hex()).call()
                except NotFoundError:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)

    assert asyncio.run(run())["successful"] is True
    assert sim.balance(b.public_key) == Decimal(10005)


def test_server_async_errors(sim, funded):
    a = funded()

    async def run():
        async with ServerAsync(sim.url, client=AiohttpClient()) as server:
            account = await server.load_account(a.public_key)
            tx = TransactionBuilder(account, sim.passphrase, 100).append_payment_op(
                Keypair.random().public_key, Asset.native(), "2").set_timeout(30).build()
            tx.sign(a)
            with pytest.raises(BadRequestError) as info:
                await server.submit_transaction(tx)
            assert info.value.extras["result_codes"]["operations"] == ["op_no_destination"]
            sim.add_fault("submit_timeout", applied=False, count=1)
            with pytest.raises(BadResponseError) as timeout:
                await server.submit_transaction(tx)  # AiohttpClient does not retry: one POST
            assert timeout.value.status == 504
            with pytest.raises(NotFoundError):
                await server.load_account(Keypair.random().public_key)

    asyncio.run(run())


def test_cli_help():
    result = CliRunner().invoke(simnet_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--ledger-interval", "--ledger-capacity", "--passphrase"):
        assert option in result.output
    assert "Standalone Network ; February 2017" in " ".join(result.output.split())
    bad = CliRunner().invoke(simnet_command, ["--ledger-interval", "0"])
    assert bad.exit_code != 0
