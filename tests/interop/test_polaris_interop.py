"""Drop-in interop with django-polaris 2.6.0, the real package from PyPI in its own venv.

Polaris creates its schema with its own migrations on PostgreSQL, stores the asset (its
``EncryptedTextField`` encrypts the distribution seed with Django's SECRET_KEY, which is
``ANCHOR_SECRET_KEY``) and a SEP-24 deposit and withdrawal through its own models. Real
``dramatiq actors`` workers and ``streamer.py`` complete both against simnet; Polaris's
models then read them back.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from stellar_sdk import Asset as SdkAsset
from stellar_sdk import HashMemo, Keypair, Server, TransactionBuilder, TransactionEnvelope
from stellar_sdk.exceptions import BadSignatureError
from support.paths import REPO
from support.processes import Process, streamer_argv, workers_argv
from support.queues import purge_queues
from support.secret import TEST_SECRET_KEY
from support.waiting import wait_until

from anchor_dramatiq import config
from anchor_dramatiq.crypto import Secret
from anchor_dramatiq.db import database, open_database
from anchor_dramatiq.migrate import migrate
from anchor_dramatiq.models import Asset, Cursor, Submission, Transaction
from simnet import Simnet

from .conftest import POLARIS_DIR

pytestmark = [pytest.mark.timeout(240), pytest.mark.services]



class Ledger:
    """The anchor's accounts on simnet: issuer, distribution (holding USD), a wallet and a user."""

    def __init__(self, sim: Simnet) -> None:
        self.sim = sim
        self.server = Server(sim.url)
        self.issuer, self.distribution, self.wallet, self.user = (Keypair.random() for _ in range(4))
        for keypair in (self.issuer, self.distribution, self.wallet, self.user):
            sim.friendbot(keypair.public_key)
        self.usd = SdkAsset("USD", self.issuer.public_key)
        for holder in (self.distribution, self.wallet, self.user):
            self.submit(holder, lambda b: b.append_change_trust_op(self.usd))
        for holder in (self.distribution, self.user):
            self.submit(self.issuer, lambda b, h=holder: b.append_payment_op(h.public_key, self.usd, "10000"))

    def submit(self, source: Keypair, ops: Callable, memo=None) -> dict:
        builder = TransactionBuilder(self.server.load_account(source.public_key), self.sim.passphrase, 100)
        ops(builder)
        if memo is not None:
            builder.add_memo(memo)
        envelope = builder.set_timeout(60).build()
        envelope.sign(source)
        return self.server.submit_transaction(envelope)


@pytest.fixture
def sim() -> Iterator[Simnet]:
    with Simnet(ledger_interval=0.1, stream_timeout=5.0) as net:
        yield net


@pytest.fixture
def anchor_db(pg_url: str, sim: Simnet) -> Iterator[str]:
    settings = config.Settings.from_env({"ANCHOR_DATABASE_URL": pg_url, "ANCHOR_SECRET_KEY": TEST_SECRET_KEY,
                                         "ANCHOR_HORIZON_URL": sim.url})
    config.configure(settings)
    yield pg_url
    database.close()
    config.configure(None)


def test_polaris_rows_completed_by_anchor_dramatiq(polaris_factory, sim: Simnet, anchor_db: str,
                                                   broker_url: str, tmp_path: Path) -> None:
    shared = {"ANCHOR_DATABASE_URL": anchor_db, "ANCHOR_SECRET_KEY": TEST_SECRET_KEY,
              "ANCHOR_HORIZON_URL": sim.url, "ANCHOR_NETWORK_PASSPHRASE": sim.passphrase}
    polaris = polaris_factory(shared)
    polaris.migrate()  # an existing Polaris deployment: Polaris made the schema
    open_database(anchor_db)
    assert "tables" in migrate()  # anchor-dramatiq adds its tables and indexes next to Polaris's

    chain = Ledger(sim)
    asset = polaris.bench("asset", "--code", "USD", "--issuer", chain.issuer.public_key,
                          "--deposit-fee-fixed", "1", "--deposit-fee-percent", "1",
                          "--withdrawal-fee-fixed", "0.5", "--withdrawal-fee-percent", "2",
                          extra_env={"POLARIS_BENCH_DISTRIBUTION_SEED": chain.distribution.secret})
    assert asset["distribution_account"] == chain.distribution.public_key
    [deposit_id] = polaris.bench("deposits", "--asset", str(asset["id"]), "--amount", "100",
                                 "--to", chain.wallet.public_key)["ids"]
    [withdrawal] = polaris.bench("withdrawals", "--asset", str(asset["id"]), "--amount", "50")["withdrawals"]
    assert withdrawal["memo_type"] == "hash"
    # The seed Polaris encrypted decrypts, with the same key, to the distribution seed.
    stored = Asset.get_by_id(asset["id"])
    assert stored.distribution_seed != chain.distribution.secret
    assert stored.distribution_secret(Secret(TEST_SECRET_KEY)).reveal() == chain.distribution.secret

    purge_queues(broker_url)
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANCHOR_")}
    env.update(shared, ANCHOR_BROKER_URL=broker_url, ANCHOR_RAILS="anchor_rails:BenchRails",
               ANCHOR_STREAM_SILENCE_TIMEOUT="5", PYTHONPATH=os.pathsep.join([str(POLARIS_DIR), str(REPO)]),
               PYTHONUNBUFFERED="1", dramatiq_prom_db=str(tmp_path / "prometheus"))
    workers = Process(workers_argv(processes=1, threads=4), env, tmp_path / "workers.log")
    streamer = Process(streamer_argv(), env, tmp_path / "streamer.log")
    broker = RabbitmqBroker(url=broker_url, confirm_delivery=True)
    try:
        wait_until(lambda: Cursor.get_or_none(Cursor.account == chain.distribution.public_key), 30,
                   "the streamer to pin its cursor on the distribution account")

        def send(actor: str) -> None:
            broker.enqueue(dramatiq.Message(queue_name="periodic", actor_name=actor, args=(), kwargs={},
                                            options={}))

        send("poll_pending_deposits")  # the rails report the deposit funded; it is paid on simnet
        payment = chain.submit(chain.user, lambda b: b.append_payment_op(
            chain.distribution.public_key, chain.usd, "50"),
            memo=HashMemo(base64.b64decode(withdrawal["memo"])))
        wait_until(lambda: Transaction.get_by_id(withdrawal["id"]).status == "pending_external", 60,
                   f"the withdrawal to be paid out:\n{streamer.log()[-2000:]}\n{workers.log()[-3000:]}")
        send("poll_outgoing_transactions")
        wait_until(lambda: {t.status for t in Transaction.select()} == {"completed"}, 60,
                   f"both to complete:\n{workers.log()[-3000:]}")
    finally:
        broker.close()
        streamer.kill()
        workers.kill()

    rows = {t["id"]: t for t in polaris.bench("read", deposit_id, withdrawal["id"])["transactions"]}
    deposit_row, withdrawal_row = rows[deposit_id], rows[withdrawal["id"]]

    usd_key = f"USD:{chain.issuer.public_key}"
    [paid] = [p for p in sim.payments(chain.wallet.public_key)
              if p["to"] == chain.wallet.public_key and p.get("asset") == usd_key and p["successful"]]
    assert deposit_row["status"] == "completed" and deposit_row["submission_status"] == "completed"
    assert deposit_row["stellar_transaction_id"] == paid["transaction_hash"]
    assert (Decimal(deposit_row["amount_in"]), Decimal(deposit_row["amount_fee"]),
            Decimal(deposit_row["amount_out"])) == (Decimal(100), Decimal(2), Decimal(98))
    assert deposit_row["completed_at"] is not None
    assert sim.balance(chain.wallet.public_key, chain.usd) == Decimal(98)

    assert withdrawal_row["status"] == "completed"
    assert withdrawal_row["stellar_transaction_id"] == payment["hash"]
    assert withdrawal_row["from_address"] == chain.user.public_key
    assert (Decimal(withdrawal_row["amount_in"]), Decimal(withdrawal_row["amount_fee"]),
            Decimal(withdrawal_row["amount_out"])) == (Decimal(50), Decimal("1.5"), Decimal("48.5"))
    assert withdrawal_row["external_transaction_id"] == "bank-" + withdrawal["id"].replace("-", "")
    assert withdrawal_row["completed_at"] is not None

    # anchor-dramatiq signed the deposit with the seed Polaris stored: the envelope on the
    # network pays from the distribution account and carries its valid signature.
    horizon_tx = chain.server.transactions().transaction(paid["transaction_hash"]).call()
    envelope = TransactionEnvelope.from_xdr(horizon_tx["envelope_xdr"], sim.passphrase)
    [operation] = envelope.transaction.operations
    source = operation.source or envelope.transaction.source
    assert source.account_id == chain.distribution.public_key
    verifier = Keypair.from_public_key(chain.distribution.public_key)
    assert any(_verifies(verifier, envelope.hash(), s.signature) for s in envelope.signatures)
    assert Submission.get(Submission.hash == paid["transaction_hash"]).state == "succeeded"


def _verifies(keypair: Keypair, data: bytes, signature: bytes) -> bool:
    try:
        keypair.verify(data, signature)
    except BadSignatureError:
        return False
    return True
