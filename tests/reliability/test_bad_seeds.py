"""Stored seeds that decrypt but do not parse (one character short, a trailing newline).

stellar-sdk quotes a seed it rejects in its exception message, so such a seed used to reach
the logs and tracebacks, and one bad asset row stopped the streamer watching every account.
Here: the seed reaches no exception, log line or command output, the bad asset is reported
by code and issuer, and a good asset's payments are still recorded and matched by the real
streamer and worker processes, on both database backends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
import urllib.request
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from prometheus_client.parser import text_string_to_metric_families
from stellar_sdk import Keypair, TextMemo
from support.chain import Chain
from support.factories import make_withdrawal
from support.paths import REPO
from support.processes import streamer_argv, workers_argv
from support.rails import counting_rails_env
from support.services import free_port
from support.waiting import wait_until

from anchor_dramatiq import config
from anchor_dramatiq.crypto import Secret, encrypt_seed
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.errors import InvalidSeedError
from anchor_dramatiq.logs import redact
from anchor_dramatiq.metrics import AnchorCollector
from anchor_dramatiq.models import Asset, Channel, Cursor, Payment, Transaction
from anchor_dramatiq.stellar.keys import channel_keypair, keypair_from_seed
from simnet import Simnet

SEED = Keypair.random().secret
BAD_SEEDS = {"SHORT": SEED[:-1], "NEWLINE": SEED + "\n"}
NOT_ENCRYPTED = "not-a-polaris-encrypted-value"


def leaks(text: str) -> list[str]:
    """The pieces of the bad seeds found in ``text`` (a 30-character prefix is enough to tell)."""
    return [piece for piece in (SEED, SEED[:-1], SEED[:30]) if piece in text]


def add_bad_assets() -> dict[str, str]:
    """The SHORT and NEWLINE assets (seeds that decrypt but do not parse) and BADKEY (a stored
    value that does not decrypt); their "CODE:ISSUER" by code."""
    secret_key = config.get_settings().secret_key
    keys = {}
    for code, seed in BAD_SEEDS.items():
        row = Asset.create(code=code, issuer=Keypair.random().public_key,
                           distribution_seed=encrypt_seed(Secret(seed), secret_key))
        keys[code] = row.asset_key
    row = Asset.create(code="BADKEY", issuer=Keypair.random().public_key, distribution_seed=NOT_ENCRYPTED)
    keys["BADKEY"] = row.asset_key
    return keys


def ready_deposit(asset: Asset) -> Transaction:
    """A funded deposit of ``asset`` waiting to be paid on Stellar."""
    destination = Keypair.random().public_key
    return Transaction.create(id=uuid.uuid4(), kind="deposit", protocol="sep24", status="pending_anchor",
                              submission_status="ready", asset=asset, amount_in=Decimal("5"),
                              amount_fee=Decimal(0), amount_out=Decimal("5"), queued_at=utcnow(),
                              stellar_account=destination, to_address=destination)


# --------------------------------------------------------------------------- the one function


@pytest.mark.parametrize("raw", [SEED[:-1], SEED + "\n", " " + SEED, SEED.lower(), SEED[:-1] + "A", ""],
                         ids=["short", "newline", "space", "lower", "checksum", "empty"])
def test_a_seed_that_does_not_parse_is_named_by_owner_and_never_chained(raw: str) -> None:
    with pytest.raises(InvalidSeedError) as raised:
        keypair_from_seed(Secret(raw), "the distribution seed of asset USD:GISSUER")
    error = raised.value
    assert str(error).startswith("the distribution seed of asset USD:GISSUER is not a Stellar secret seed")
    assert error.__cause__ is None and error.__context__ is None  # the library's error is gone
    shown = "".join(traceback.format_exception(error)) + repr(error)
    assert "Ed25519" not in shown
    if raw.strip():
        assert raw.strip()[:30] not in shown and raw.strip()[:30].upper() not in shown


def test_a_good_seed_gives_its_keypair() -> None:
    assert keypair_from_seed(Secret(SEED), "x").public_key == Keypair.from_secret(SEED).public_key


def test_a_bad_signing_seed_is_a_config_error_naming_the_variable_with_no_seed_in_its_chain() -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.Settings.from_env({"ANCHOR_SIGNING_SEED": SEED[:-1]})
    assert str(raised.value).startswith("ANCHOR_SIGNING_SEED: expected ")
    chain, error = [], raised.value
    while error is not None:
        chain.append(f"{error!r} {error}")
        error = error.__cause__ or error.__context__
    assert leaks(" ".join(chain)) == [], chain


def test_the_log_mask_catches_damaged_seeds_and_leaves_accounts_alone() -> None:
    message = f"Invalid Ed25519 Secret Seed: {SEED[:-1]} / {SEED[:41]} / {SEED}\n"
    assert leaks(redact(message)) == []
    assert redact(message).count("S[REDACTED]") == 3
    accounts = [Keypair.random().public_key for _ in range(200)]  # many hold an S with 40+ characters after
    assert redact(" ".join(accounts)) == " ".join(accounts)


# --------------------------------------------------------------------------- rows, CLI, metrics


def test_a_channel_with_a_bad_seed_is_named_by_its_account(db: str) -> None:
    public_key = Keypair.random().public_key
    channel = Channel.create(public_key=public_key,
                             encrypted_seed=encrypt_seed(Secret(SEED[:-1]), config.get_settings().secret_key))
    with pytest.raises(InvalidSeedError, match=f"channel account {public_key}") as raised:
        channel_keypair(channel, config.get_settings().secret_key)
    assert leaks(str(raised.value)) == []


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anchor_dramatiq.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_commands_show_bad_assets_without_seed_or_traceback(db: str) -> None:
    good = Keypair.random()
    Asset.create(code="USD", issuer=Keypair.random().public_key,
                 distribution_seed=encrypt_seed(Secret(good.secret), config.get_settings().secret_key))
    bad = add_bad_assets()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANCHOR_")}
    env.update({"ANCHOR_DATABASE_URL": db, "ANCHOR_SECRET_KEY": config.get_settings().secret_key.reveal(),
                "ANCHOR_LOG_LEVEL": "DEBUG", "ANCHOR_HORIZON_URL": "http://127.0.0.1:9"})

    listed = cli(env, "asset", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("\t")[1]: line for line in listed.stdout.splitlines()}
    assert f"distribution={good.public_key}" in rows["USD"]
    for code in bad:
        assert "distribution=invalid seed" in rows[code]
        assert f"asset {bad[code]}: " in listed.stderr
    assert "not a Stellar secret seed (55 characters" in listed.stderr
    assert "not a Stellar secret seed (57 characters" in listed.stderr

    text = cli(env, "status", "--no-horizon")
    assert text.returncode == 0, text.stderr
    assert "assets with an invalid seed (not streamed, not paid from): 3" in text.stdout
    assert all(f"  {key}: " in text.stdout for key in bad.values())

    as_json = cli(env, "status", "--json", "--no-horizon")
    assert as_json.returncode == 0, as_json.stderr
    assert set(json.loads(as_json.stdout)["invalid_seed_assets"]) == set(bad.values())

    channels = cli(env, "channels", "list")
    assert channels.returncode == 0, channels.stderr

    create = cli(env, "channels", "create", "1", "--asset", "SHORT")
    assert create.returncode == 1
    assert create.stderr.strip().splitlines()[-1] == (
        f"Error: the distribution seed of asset {bad['SHORT']} is not a Stellar secret seed "
        "(55 characters; a seed is S and 55 more)")

    for done in (listed, text, as_json, channels, create):
        output = done.stdout + done.stderr
        assert "Traceback" not in output, output
        assert leaks(output) == [], output


def test_metrics_flag_each_bad_asset(db: str) -> None:
    seed = encrypt_seed(Secret(Keypair.random().secret), config.get_settings().secret_key)
    good = Asset.create(code="USD", issuer=Keypair.random().public_key, distribution_seed=seed)
    bad = add_bad_assets()
    [family] = [f for f in AnchorCollector().collect() if f.name == "anchor_asset_seed_invalid"]
    values = {sample.labels["asset"]: sample.value for sample in family.samples}
    assert values == {good.asset_key: 0, **{key: 1 for key in bad.values()}}


# --------------------------------------------------------------------------- real processes


@pytest.fixture
def sim() -> Iterator[Simnet]:
    with Simnet(ledger_interval=0.1, stream_timeout=5.0) as net:
        yield net


@pytest.fixture
def horizon_url(sim: Simnet) -> str:
    return sim.url


@pytest.fixture
def process_db(db: str, horizon_url: str) -> str:
    """The processes run on this test's backend (both), the test process watching simnet."""
    config.configure(config.get_settings().replace(horizon_url=horizon_url))
    return db


@pytest.mark.services
@pytest.mark.timeout(240)
def test_good_asset_is_streamed_and_matched_while_bad_rows_exist(sim: Simnet, process_env: dict[str, str],
                                                                   start, broker_url: str,
                                                                   tmp_path: Path) -> None:
    chain = Chain(sim)
    good = chain.register()
    bad = add_bad_assets()
    withdrawal = make_withdrawal(good, chain.account, memo="good-1")
    deposit = ready_deposit(Asset.get(Asset.code == "SHORT"))  # the worker must sign with a bad seed
    metrics_port = free_port()

    env = {**process_env, **counting_rails_env(tmp_path), "ANCHOR_LOG_LEVEL": "DEBUG"}
    workers = start(workers_argv(1, 2) + ["-v"], env, "workers")
    streamer = start(streamer_argv(), {**env, "ANCHOR_METRICS_PORT": str(metrics_port)}, "streamer")
    wait_until(lambda: Cursor.get_or_none(Cursor.account == chain.account), 60,
               f"the good account streamed:\n{streamer.log()[-3000:]}")
    rabbit = RabbitmqBroker(url=broker_url, confirm_delivery=True)
    try:
        for queue, actor, args in (("stellar", "submit_deposit", (str(deposit.id),)),
                                   ("withdrawals", "reconcile_payments", ())):
            rabbit.declare_queue(queue)
            rabbit.enqueue(dramatiq.Message(queue_name=queue, actor_name=actor, args=args, kwargs={},
                                            options={}))
    finally:
        rabbit.close()
    chain.pay("10", TextMemo("good-1"))
    matched = (Payment.memo == "good-1") & (Payment.outcome == "matched")
    paid = wait_until(lambda: Payment.get_or_none(matched), 60, "the good payment matched")
    assert paid.transaction_id == withdrawal.id
    wait_until(lambda: "InvalidSeedError" in workers.log(), 60, "the worker tried the bad asset's seed")
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
        scraped = answer.read().decode()
    assert streamer.terminate(timeout=30) == 0
    assert workers.terminate(timeout=60) == 0

    [family] = [f for f in text_string_to_metric_families(scraped) if f.name == "anchor_asset_seed_invalid"]
    flagged = {s.labels["asset"]: s.value for s in family.samples}
    assert flagged == {good.asset_key: 0, **{key: 1 for key in bad.values()}}
    errors = [line for line in streamer.log().splitlines() if " ERROR " in line]
    for key in bad.values():
        assert sum(f"asset {key} is not watched" in line for line in errors) == 1, errors
    assert f"streaming payments of {chain.account}" in streamer.log()
    for process in (streamer, workers):
        assert leaks(process.log()) == []
        assert "Ed25519" not in process.log()
