"""Wallet callbacks: a real HTTP server on 127.0.0.1 records what the callback actor sends."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from stellar_sdk import Keypair

from anchor_dramatiq import callbacks, config
from anchor_dramatiq.crypto import Secret
from anchor_dramatiq.models import Asset, Transaction
from anchor_dramatiq.queues import Queue
from anchor_dramatiq.transitions import transition


class Hook:
    """A wallet's callback endpoint: answers with ``statuses`` in turn (then the last one)."""

    def __init__(self, statuses: list[int], delays: list[float] | None = None) -> None:
        self.statuses = statuses
        self.delays = delays or []
        self.requests: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if len(hook.requests) <= len(hook.delays):
                    time.sleep(hook.delays[len(hook.requests) - 1])
                index = min(len(hook.requests) - 1, len(hook.statuses) - 1)
                self.send_response(hook.statuses[index])
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_port}"
        # The wallet's URL carries a token: it must never reach a log line.
        self.url = f"http://{self.host}/callbacks/tx?token=wallet-token-s3cret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def hook_factory() -> Iterator:
    hooks: list[Hook] = []

    def make(*statuses: int, delays: list[float] | None = None) -> Hook:
        hooks.append(Hook(list(statuses) or [200], delays))
        return hooks[-1]

    yield make
    for hook in hooks:
        hook.server.shutdown()
        hook.server.server_close()


@pytest.fixture
def signer(db) -> Keypair:
    keypair = Keypair.random()
    config.configure(config.get_settings().replace(signing_seed=Secret(keypair.secret), callback_timeout=1.0))
    return keypair


@pytest.fixture
def fast_retries(monkeypatch) -> None:
    """Millisecond backoffs and two retries, so giving up takes a moment, not half an hour."""
    import actors.callbacks  # after the test settings are in place (as the broker fixture does)

    options = actors.callbacks.send_callback.options
    monkeypatch.setitem(options, "min_backoff", 20)
    monkeypatch.setitem(options, "max_backoff", 50)
    monkeypatch.setitem(options, "max_retries", 2)


def make_transaction(url: str | None, *, kind: str = "deposit", status: str = "pending_user_transfer_start",
                     **fields) -> Transaction:
    asset = Asset.get_or_none(Asset.code == "USDC") or Asset.create(
        code="USDC", issuer=Keypair.random().public_key, significant_decimals=2)
    return Transaction.create(id=uuid.uuid4(), stellar_account=Keypair.random().public_key, kind=kind,
                              protocol="sep24", status=status, asset=asset, on_change_callback=url,
                              to_address=Keypair.random().public_key, **fields)


def verify(request: dict, signer: Keypair, host: str) -> None:
    header = request["headers"]["Signature"]
    parts = dict(part.strip().split("=", 1) for part in header.split(","))
    assert abs(int(parts["t"]) - time.time()) < 60
    payload = f"{parts['t']}.{host}.".encode() + request["body"]
    Keypair.from_public_key(signer.public_key).verify(payload, base64.b64decode(parts["s"]))
    assert request["headers"]["Content-Type"] == "application/json"


def logged(caplog) -> str:
    """Every line but peewee's SQL echo (which at DEBUG shows the row the test inserted)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name != "peewee")


def queued_callbacks(broker) -> int:
    return broker.queues[Queue.CALLBACKS].qsize()


def test_status_change_sends_a_signed_callback_with_the_transaction(
        signer, broker, run_workers, hook_factory, caplog):
    caplog.set_level(logging.DEBUG)
    hook = hook_factory(200)
    row = make_transaction(hook.url, amount_in=Decimal("10.5"), amount_fee=Decimal("0.25"),
                           amount_out=Decimal("10.25"), memo="42", memo_type="id")
    assert transition(row.id, ["pending_user_transfer_start"], "pending_anchor")
    run_workers(lambda: len(hook.requests) == 1, timeout=10)
    [request] = hook.requests
    verify(request, signer, hook.host)
    assert request["path"] == "/callbacks/tx?token=wallet-token-s3cret"
    sent = json.loads(request["body"])["transaction"]
    assert sent["id"] == str(row.id) and sent["kind"] == "deposit" and sent["status"] == "pending_anchor"
    assert (sent["amount_in"], sent["amount_fee"], sent["amount_out"]) == ("10.50", "0.25", "10.25")
    assert sent["message"] == "processing" and sent["refunded"] is False
    assert sent["to"] == row.to_address and sent["from"] is None
    assert (sent["deposit_memo"], sent["deposit_memo_type"]) == ("42", "id")
    assert sent["started_at"].endswith("Z") and sent["completed_at"] is None
    assert "withdraw_memo" not in sent and "memo" not in sent and "to_address" not in sent
    # Neither the signing seed nor the wallet's URL token is in any log line.
    assert signer.secret not in logged(caplog) and "s3cret" not in logged(caplog)
    assert Transaction.get_by_id(row.id).status == "pending_anchor"


def test_withdrawal_shape_as_polaris_sends_it(signer):
    row = make_transaction("https://wallet.example/cb", kind="withdrawal", status="completed",
                           amount_in=Decimal("5"), memo="bWVtbw==", memo_type="hash",
                           receiving_anchor_account=Keypair.random().public_key,
                           claimable_balance_id="00ab")
    sent = callbacks.transaction_json(Transaction.get_by_id(row.id))
    assert sent["withdraw_memo"] == "bWVtbw==" and sent["withdraw_memo_type"] == "hash"
    assert sent["withdraw_anchor_account"] == row.receiving_anchor_account
    assert "claimable_balance_id" not in sent and "deposit_memo" not in sent
    assert sent["amount_in"] == "5.00" and sent["amount_out"] is None and sent["message"] == "complete"
    header = callbacks.signature_header("https://wallet.example:8443/cb?x=1", "{}", signer.secret,
                                        now=1700000000)
    stamp, signature = (part.split("=", 1)[1] for part in header.split(", "))
    assert stamp == "1700000000"
    signer.verify(b"1700000000.wallet.example:8443.{}", base64.b64decode(signature))


def test_retries_on_500_until_the_wallet_takes_it(signer, broker, run_workers, hook_factory, fast_retries):
    hook = hook_factory(500, 500, 200)
    row = make_transaction(hook.url)
    assert transition(row.id, ["pending_user_transfer_start"], "pending_anchor")
    run_workers(lambda: len(hook.requests) == 3, timeout=10)
    time.sleep(0.3)
    assert len(hook.requests) == 3  # delivered once it got a 200: no more attempts
    for request in hook.requests:
        verify(request, signer, hook.host)
    assert [b["transaction"]["status"] for b in hook.bodies()] == ["pending_anchor"] * 3
    assert Transaction.get_by_id(row.id).status == "pending_anchor"


def test_a_wallet_that_always_fails_is_given_up_and_changes_nothing(
        signer, broker, run_workers, hook_factory, fast_retries, caplog):
    caplog.set_level(logging.DEBUG)
    hook = hook_factory(500)
    row = make_transaction(hook.url)
    assert transition(row.id, ["pending_user_transfer_start"], "pending_anchor",
                       amount_in=Decimal(3), amount_out=Decimal(3))

    def given_up() -> bool:
        return any(r.levelno == logging.WARNING and "given up" in r.getMessage()
                   and str(row.id) in r.getMessage() for r in caplog.records)

    run_workers(given_up, timeout=10)
    assert len(hook.requests) == 3  # the first attempt and two retries
    after = Transaction.get_by_id(row.id)
    assert after.status == "pending_anchor" and after.status_message is None
    assert after.amount_out == Decimal(3)
    assert signer.secret not in logged(caplog) and "s3cret" not in logged(caplog)


def test_a_wallet_slower_than_the_callback_timeout_is_retried(signer, broker, run_workers, hook_factory,
                                                              fast_retries, caplog):
    config.configure(config.get_settings().replace(callback_timeout=0.5))
    hook = hook_factory(200, delays=[1.0])  # the first answer comes after the timeout
    row = make_transaction(hook.url)
    assert transition(row.id, ["pending_user_transfer_start"], "pending_anchor")
    delivered = f"transaction {row.id}: callback (pending_anchor) delivered"
    run_workers(lambda: delivered in logged(caplog), timeout=10)
    assert len(hook.requests) == 2
    assert any("will retry" in r.getMessage() and "timed out" in r.getMessage() for r in caplog.records)
    assert Transaction.get_by_id(row.id).status == "pending_anchor"


def test_unreachable_url_is_retried_then_given_up(signer, broker, run_workers, fast_retries, caplog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    row = make_transaction(f"http://127.0.0.1:{port}/cb")
    assert transition(row.id, ["pending_user_transfer_start"], "error", status_message="bank said no")

    def given_up() -> bool:
        return any(r.levelno == logging.WARNING and "given up" in r.getMessage()
                   and str(row.id) in r.getMessage() for r in caplog.records)

    run_workers(given_up, timeout=10)
    failures = [r for r in caplog.records if "will retry" in r.getMessage() and str(row.id) in r.getMessage()]
    assert len(failures) == 3 and all(r.levelno == logging.WARNING for r in failures)
    after = Transaction.get_by_id(row.id)
    assert after.status == "error" and after.status_message == "bank said no"


@pytest.mark.parametrize("url", ["postMessage", "postmessage", "", None])
def test_no_callback_url_or_post_message_sends_nothing(signer, broker, url):
    row = make_transaction(url)
    assert transition(row.id, ["pending_user_transfer_start"], "pending_anchor")
    assert queued_callbacks(broker) == 0
    assert callbacks.send_callback(row.id) == "no callback"


def test_without_a_signing_seed_callbacks_are_skipped_and_logged_once(db, broker, hook_factory,
                                                                     monkeypatch, caplog):
    monkeypatch.setattr(callbacks, "_no_seed_logged", threading.Event())
    hook = hook_factory(200)
    rows = [make_transaction(hook.url) for _ in range(2)]
    for row in rows:
        assert transition(row.id, ["pending_user_transfer_start"], "pending_anchor")
    assert queued_callbacks(broker) == 0
    assert callbacks.send_callback(rows[0].id) == "no signing seed"
    warnings = [r for r in caplog.records if "ANCHOR_SIGNING_SEED" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert hook.requests == []


def test_a_deposit_completes_on_the_ledger_while_its_wallet_callbacks_fail(
        anchor, run_workers, hook_factory, fast_retries, caplog):
    from anchor_dramatiq.deposits import deposit_funded

    signer = Keypair.random()
    config.configure(anchor.settings.replace(signing_seed=Secret(signer.secret)))
    hook = hook_factory(500)
    wallet = anchor.wallet()
    deposit = anchor.deposit(wallet.public_key, "6", status="pending_user_transfer_start",
                             submission_status="not_ready", on_change_callback=hook.url)
    assert deposit_funded(deposit.id, "6")

    def done() -> bool:
        gave_up = [r for r in caplog.records if "given up" in r.getMessage()]
        return Transaction.get_by_id(deposit.id).status == "completed" and len(gave_up) == 2

    run_workers(done, timeout=20)
    row = Transaction.get_by_id(deposit.id)
    assert row.status == "completed" and row.submission_status == "completed"
    assert anchor.balance(wallet.public_key) == Decimal(6)
    assert len(anchor.payments_to(wallet.public_key)) == 1
    # pending_anchor and completed: each change called the wallet (3 attempts each), all signed.
    assert len(hook.requests) == 6
    for request in hook.requests:
        verify(request, signer, hook.host)
    assert {b["transaction"]["status"] for b in hook.bodies()} <= {"pending_anchor", "completed"}
