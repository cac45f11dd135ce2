"""The vocabulary: one module spells the words, and they are the strings Polaris stores."""

import ast
from pathlib import Path

from stellar_sdk import Keypair

from anchor_dramatiq import vocabulary
from anchor_dramatiq.db import database
from anchor_dramatiq.models import Asset, Payment, Transaction
from anchor_dramatiq.vocabulary import PaymentOutcome, SubmissionStatus, TransactionKind, TransactionStatus

ROOT = Path(__file__).resolve().parents[2]

#: The stored words: a string literal equal to one of these is a status spelt outside the vocabulary.
STORED = (vocabulary.TransactionStatus, vocabulary.TransactionKind, vocabulary.SubmissionStatus,
          vocabulary.SubmissionState, vocabulary.SubmissionPurpose, vocabulary.OperationKind,
          vocabulary.PaymentOutcome, vocabulary.PayoutState)

#: Literals that are the same word but not the vocabulary's (each with why).
NOT_A_STATUS = {
    ("anchor_dramatiq/callbacks.py", "processing"),  # Polaris's message texts (status_to_message)
    ("anchor_dramatiq/callbacks.py", "incomplete"),
    ("anchor_dramatiq/callbacks.py", "error"),
    ("anchor_dramatiq/callbacks.py", "refunded"),  # the callback body's ``refunded`` key
    ("anchor_dramatiq/cli/status.py", "ready"),  # a queue's ready-message count
    ("anchor_dramatiq/deposits/submit.py", "submitted"),  # a crash point's name
    ("anchor_dramatiq/payments/__init__.py", "payment"),  # Horizon's operation type
}


def _sources() -> list[Path]:
    paths = [*(ROOT / "anchor_dramatiq").rglob("*.py"), *(ROOT / "actors").rglob("*.py"),
             ROOT / "scheduler.py", ROOT / "streamer.py"]
    return [p for p in paths if p.exists() and "simnet" not in p.relative_to(ROOT).parts
            and p.name != "vocabulary.py"]


def test_no_status_literal_outside_the_vocabulary_module():
    words = {member.value for enum in STORED for member in enum}
    found = []
    for path in _sources():
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), where)):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in words
                    and (where, node.value) not in NOT_A_STATUS):
                found.append(f"{where}:{node.lineno}: {node.value!r}")
    assert not found, "use the vocabulary's members instead:\n" + "\n".join(found)


def test_polaris_words_are_polaris_values():
    """Polaris 2.6's ``Transaction.STATUS``, ``KIND`` and ``SUBMISSION_STATUS`` choices, unchanged."""
    assert {s.value for s in TransactionStatus} == {
        "completed", "pending_external", "pending_anchor", "pending_stellar", "pending_trust",
        "pending_user", "pending_user_transfer_start", "pending_user_transfer_complete",
        "pending_customer_info_update", "pending_transaction_info_update", "pending_sender",
        "pending_receiver", "incomplete", "no_market", "too_small", "too_large", "error", "refunded",
        "expired"}
    assert {k.value for k in TransactionKind} == {
        "deposit", "withdrawal", "send", "deposit-exchange", "withdrawal-exchange"}
    assert {s.value for s in SubmissionStatus} == {
        "not_ready", "ready", "processing", "pending_funding", "pending_trust", "blocked",
        "unblocked", "completed", "failed"}


def test_members_are_stored_as_the_plain_words(db):
    """A member writes its exact string, and a plain string reads back equal to the member."""
    asset = Asset.create(code="USD", issuer=Keypair.random().public_key)
    row = Transaction.create(stellar_account="GA", asset=asset, kind=TransactionKind.DEPOSIT_EXCHANGE,
                             status=TransactionStatus.PENDING_ANCHOR,
                             submission_status=SubmissionStatus.READY)
    stored = database.execute_sql("SELECT kind, status, submission_status FROM polaris_transaction")
    assert list(stored.fetchall()) == [("deposit-exchange", "pending_anchor", "ready")]
    again = Transaction.get(Transaction.status == "pending_anchor")
    assert again.id == row.id
    assert again.status == TransactionStatus.PENDING_ANCHOR and type(again.status) is str
    assert Payment.select().where(Payment.outcome == PaymentOutcome.PENDING).count() == 0
