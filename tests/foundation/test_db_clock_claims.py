"""Channel leases and deposit claims expire on the database's clock: a worker whose clock runs
ahead cannot take what another still holds. Both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from stellar_sdk import Keypair

from anchor_dramatiq import db as dbmodule
from anchor_dramatiq.config import get_settings
from anchor_dramatiq.deposits import claims
from anchor_dramatiq.models import Asset, Channel, Transaction
from anchor_dramatiq.stellar import channels


def clock_ahead(monkeypatch: pytest.MonkeyPatch, modules: tuple, minutes: int = 30) -> None:
    ahead = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)  # noqa: E731
    monkeypatch.setattr(dbmodule, "utcnow", ahead)
    for module in modules:
        monkeypatch.setattr(module, "utcnow", ahead, raising=False)


def test_channel_lease_is_not_taken_by_a_host_whose_clock_runs_ahead(db, monkeypatch) -> None:
    Channel.create(public_key=Keypair.random().public_key, encrypted_seed="unused")
    first = channels.lease(get_settings(), seconds=60)
    assert first is not None
    clock_ahead(monkeypatch, (channels,))
    assert channels.lease(get_settings(), seconds=60) is None
    channels.release(first.public_key, first.token)
    second = channels.lease(get_settings(), seconds=60)
    assert second is not None and second.token != first.token
    assert Channel.get_by_id(first.public_key).lease_fence == 2  # one more on every take
    channels.release(first.public_key, first.token)  # the old token changes nothing
    assert Channel.get_by_id(first.public_key).lease_owner == second.token


def test_deposit_claim_is_not_retaken_by_a_host_whose_clock_runs_ahead(db, monkeypatch) -> None:
    asset = Asset.create(code="USD", issuer=Keypair.random().public_key)
    deposit = Transaction.create(stellar_account=Keypair.random().public_key, kind="deposit",
                                 status="pending_anchor", asset=asset, submission_status="ready")
    assert claims.claim(deposit.id, 60)
    clock_ahead(monkeypatch, (claims,))
    assert not claims.claim(deposit.id, 60)
