"""Status changes: guarded compare-and-set, announced once after commit, to the rails too."""

import uuid

from stellar_sdk import Keypair

from anchor_dramatiq import config
from anchor_dramatiq.integrations.sandbox import SandboxRails
from anchor_dramatiq.models import Asset, Transaction
from anchor_dramatiq.transitions import _listeners, on_status_change, transition


class RecordingRails(SandboxRails):
    seen: list = []

    def on_status_change(self, transaction, old_status):
        RecordingRails.seen.append((transaction.id, old_status, transaction.status))


def test_transition_is_a_guarded_compare_and_set(db):
    asset = Asset.create(code="USD", issuer=Keypair.random().public_key)
    row = Transaction.create(stellar_account="GA", asset=asset, kind="withdrawal",
                             status="pending_user_transfer_start")
    heard = []
    listener = on_status_change(lambda *args: heard.append(args))
    try:
        assert transition(row.id, ["pending_user_transfer_start"], "pending_anchor", amount_in="5")
        assert not transition(row.id, ["pending_user_transfer_start"], "pending_anchor")
        assert not transition(uuid.uuid4(), ["pending_user_transfer_start"], "pending_anchor")
    finally:
        _listeners.remove(listener)
    assert heard == [(row.id, "pending_user_transfer_start", "pending_anchor")]
    assert Transaction.get_by_id(row.id).amount_in == 5


def test_rails_hear_every_committed_change(db):
    import actors  # registers the rails listener  # noqa: F401
    from anchor_dramatiq.integrations import rails_for

    settings = config.get_settings().replace(rails=f"{__name__}:RecordingRails")
    config.configure(settings)
    rails_for.cache_clear()
    RecordingRails.seen.clear()
    asset = Asset.create(code="USD", issuer=Keypair.random().public_key)
    row = Transaction.create(stellar_account="GA", asset=asset, kind="deposit",
                             status="pending_user_transfer_start")
    assert transition(row.id, ["pending_user_transfer_start"], "error", status_message="bad")
    assert RecordingRails.seen == [(row.id, "pending_user_transfer_start", "error")]
    rails_for.cache_clear()
