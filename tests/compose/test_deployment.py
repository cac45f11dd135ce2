"""The deployment as its users run it: the real Dockerfile built, the real docker-compose.yml
brought up (profile ``local``, simnet included) on a private Docker daemon, one deposit and one
withdrawal driven through Polaris's tables and simnet, a graceful stop, and a restart that
resumes without doing anything twice. Run by ``make compose-test``; see docs/operations.md,
"Testing the deployment offline"."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
from stellar_sdk import Asset as StellarAsset
from stellar_sdk import ChangeTrust, Keypair, Payment, Server, TransactionBuilder

from anchor_dramatiq import config
from anchor_dramatiq.db import database, open_database
from anchor_dramatiq.demo.world import polaris_hash_memo
from anchor_dramatiq.models import Asset, Cursor, Submission, Transaction
from anchor_dramatiq.models import Payment as IncomingPayment
from compose import tools
from compose.deployment import Deployment, deployed, write_report
from compose.stack import ANCHOR_SERVICES

pytestmark = pytest.mark.timeout(1500)

PASSPHRASE = "Standalone Network ; February 2017"
ASSET_CODE = "USD"
DEPOSIT = Decimal("25.00")
WITHDRAWAL = Decimal("10.00")
GRACE_S = {"workers": 120, "submitter": 120, "scheduler": 30, "streamer": 30, "simnet": 10,
           "rabbitmq": 10, "postgres": 10}


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    try:
        with deployed() as built:
            yield built
            write_report(built.figures)
            print("\ncompose-test figures:", built.figures)
    except tools.Unavailable as reason:
        pytest.skip(f"Docker cannot run on this machine: {reason}")


@pytest.fixture(scope="module")
def world(deployment: Deployment) -> Iterator[dict]:
    """Accounts on simnet, the database opened from the host (as the anchor's API server does)."""
    stack = deployment.stack
    started = time.monotonic()
    stack.compose("up", "--detach")
    deployment.figures["up_seconds"] = round(time.monotonic() - started, 1)
    wait_until(lambda: _answers(stack.horizon_url), 60, "simnet answers")
    config.configure(config.Settings.from_env({"ANCHOR_DATABASE_URL": stack.database_url,
                                               "ANCHOR_SECRET_KEY": stack.secret_key}))
    open_database(stack.database_url)
    server = Server(stack.horizon_url)
    keys = {name: Keypair.random() for name in ("issuer", "distribution", "depositor", "withdrawer")}
    for keypair in keys.values():
        requests.get(f"{stack.horizon_url}/friendbot", params={"addr": keypair.public_key},
                     timeout=30).raise_for_status()
    asset = StellarAsset(ASSET_CODE, keys["issuer"].public_key)
    for name in ("distribution", "depositor", "withdrawer"):
        submit(server, keys[name], [ChangeTrust(asset)])
    submit(server, keys["issuer"], [Payment(keys["distribution"].public_key, asset, "1000"),
                                   Payment(keys["withdrawer"].public_key, asset, "100")])
    # The operator registers the asset with the image's own CLI; the seed goes in on stdin.
    stack.compose("exec", "-T", "workers", "anchor-dramatiq", "asset", "add", "--code", ASSET_CODE,
                  "--issuer", keys["issuer"].public_key, "--seed-file", "-",
                  input=keys["distribution"].secret + "\n")
    yield {"server": server, "keys": keys, "asset": asset, "up_started": started,
           "row": Asset.get(Asset.code == ASSET_CODE)}
    server.close()
    database.close()
    config.configure(None)


def test_image_runs_as_an_unprivileged_user_with_no_settings_baked_in(deployment: Deployment) -> None:
    image = deployment.stack.docker("image", "inspect", "-f", "{{json .Config}}", "anchor-dramatiq:latest")
    image_config = json.loads(image.stdout)
    assert image_config["User"] == "10001:10001"
    assert not [e for e in image_config["Env"] if e.startswith("ANCHOR_")]
    assert deployment.figures["image_size_mb"] < 600, deployment.figures


def test_a_deposit_and_a_withdrawal_complete_end_to_end(deployment: Deployment, world: dict) -> None:
    keys, row = world["keys"], world["row"]
    deposit = Transaction.create(
        stellar_account=keys["depositor"].public_key, to_address=keys["depositor"].public_key,
        asset=row, kind="deposit", protocol="sep24", status="pending_user_transfer_start",
        amount_expected=DEPOSIT)
    done = wait_until(lambda: _completed(deposit.id), 180, "the deposit completes")
    deployment.figures["up_to_first_deposit_seconds"] = round(time.monotonic() - world["up_started"], 1)
    assert balance(world, "depositor") == done.amount_out == DEPOSIT - (done.amount_fee or 0)

    wait_until(lambda: Cursor.get_or_none(Cursor.account == keys["distribution"].public_key), 60,
               "the streamer watches the distribution account")
    withdrawal = create_withdrawal(world)
    pay_withdrawal(world, withdrawal)
    done = wait_until(lambda: _completed(withdrawal), 180, "the withdrawal completes")
    assert done.amount_in == WITHDRAWAL and done.external_transaction_id
    assert balance(world, "withdrawer") == Decimal("100") - WITHDRAWAL

    for name, port in deployment.stack.ports.metrics.items():
        body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert 'anchor_transactions{kind="deposit",status="completed"} 1.0' in body, name


def test_stop_ends_every_process_with_status_0_and_up_resumes_without_repeats(
        deployment: Deployment, world: dict) -> None:
    stack = deployment.stack
    before = {"submissions": Submission.select().count(), "payments": IncomingPayment.select().count(),
              "payouts": {t.id: t.external_transaction_id for t in Transaction.select()
                          .where(Transaction.kind == "withdrawal")},
              "depositor": balance(world, "depositor")}
    waiting = create_withdrawal(world)
    database.close()

    # Everything but the network: simnet keeps its ledger in memory, as Stellar keeps running.
    stopped = [*ANCHOR_SERVICES, "rabbitmq", "postgres"]
    exits = stop(deployment, stopped, "stop_seconds")
    assert exits == {name: 0 for name in stopped}, exits

    pay_withdrawal(world, waiting)  # paid while the streamer is down: found from its cursor
    stack.compose("up", "--detach")
    done = wait_until(lambda: _completed(waiting), 180, "the withdrawal paid during the stop completes")
    assert done.amount_in == WITHDRAWAL
    assert Submission.select().count() == before["submissions"]  # the deposit was not paid again
    assert IncomingPayment.select().count() == before["payments"] + 1
    assert balance(world, "depositor") == before["depositor"]
    for transaction_id, reference in before["payouts"].items():
        assert Transaction.get_by_id(transaction_id).external_transaction_id == reference
    database.close()

    exits = stop(deployment, [*ANCHOR_SERVICES, "rabbitmq", "postgres", "simnet"], "final_stop_seconds")
    assert set(exits.values()) == {0}, exits
    deployment.figures["shutdown_exit_codes"] = exits


def stop(deployment: Deployment, services: list[str], figure: str) -> dict[str, int]:
    """``docker compose stop``: SIGTERM (SIGINT for PostgreSQL, as its image says) to each."""
    started = time.monotonic()
    deployment.stack.compose("stop", *services, timeout=300)
    deployment.figures[figure] = round(time.monotonic() - started, 1)
    containers = deployment.stack.containers()
    exits = {name: containers[name]["State"]["ExitCode"] for name in services}
    for name in services:
        state = containers[name]["State"]
        assert not state["Running"] and not state["OOMKilled"], (name, state)
    assert deployment.figures[figure] < max(GRACE_S[name] for name in services)
    return exits


def create_withdrawal(world: dict) -> uuid.UUID:
    """The row Polaris writes when a wallet starts a SEP-24 withdrawal."""
    keys, transaction_id = world["keys"], uuid.uuid4()
    Transaction.create(
        id=transaction_id, stellar_account=keys["withdrawer"].public_key,
        from_address=keys["withdrawer"].public_key, asset=world["row"], kind="withdrawal",
        protocol="sep24", status="pending_user_transfer_start", memo_type="hash",
        memo=polaris_hash_memo(transaction_id),
        receiving_anchor_account=keys["distribution"].public_key, amount_expected=WITHDRAWAL)
    return transaction_id


def pay_withdrawal(world: dict, transaction_id: uuid.UUID) -> None:
    keys = world["keys"]
    builder = TransactionBuilder(world["server"].load_account(keys["withdrawer"].public_key),
                                 PASSPHRASE, base_fee=100)
    envelope = (builder.append_operation(Payment(keys["distribution"].public_key, world["asset"],
                                                 str(WITHDRAWAL)))
                .add_hash_memo(bytes.fromhex(transaction_id.hex.rjust(64, "0")))
                .set_timeout(60).build())
    envelope.sign(keys["withdrawer"])
    world["server"].submit_transaction(envelope)


def submit(server: Server, source: Keypair, operations: list) -> None:
    builder = TransactionBuilder(server.load_account(source.public_key), PASSPHRASE, base_fee=100)
    for operation in operations:
        builder.append_operation(operation)
    envelope = builder.set_timeout(60).build()
    envelope.sign(source)
    server.submit_transaction(envelope)


def balance(world: dict, name: str) -> Decimal:
    account = world["server"].accounts().account_id(world["keys"][name].public_key).call()
    issuer = world["keys"]["issuer"].public_key
    return next(Decimal(b["balance"]) for b in account["balances"]
                if b.get("asset_code") == ASSET_CODE and b.get("asset_issuer") == issuer)


def _completed(transaction_id: uuid.UUID) -> Transaction | None:
    with database.connection_context():
        row = Transaction.get_by_id(transaction_id)
    assert row.status not in ("error", "pending_anchor_error"), (row.status, row.status_message)
    return row if row.status == "completed" else None


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")
