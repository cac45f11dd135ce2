"""Fairness of the pipeline's batches: a burst for one asset or one wallet never starves the
others (oldest first, each wallet a bounded share of a batch while others wait)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from decimal import Decimal

from stellar_sdk import Keypair
from support.factories import make_asset

from anchor_dramatiq.db import utcnow
from anchor_dramatiq.deposits.claims import WALLET_SHARE, claim_batch, wallet_of
from anchor_dramatiq.models import Asset, Transaction

START = utcnow() - dt.timedelta(hours=1)


def ready(asset: Asset, account: str, age_rank: int, **fields) -> Transaction:
    """A ready deposit; a lower ``age_rank`` waited longer."""
    return Transaction.create(id=uuid.uuid4(), stellar_account=account, to_address=account, kind="deposit",
                              protocol="sep24", status="pending_anchor", submission_status="ready",
                              asset=asset, amount_in=Decimal(1), amount_fee=Decimal(0),
                              amount_out=Decimal(1), queued_at=START + dt.timedelta(seconds=age_rank),
                              **fields)


def test_a_burst_for_one_wallet_takes_a_bounded_share_and_the_others_are_paid_in_the_next_batch(db):
    asset, _ = make_asset()
    burst = Keypair.random().public_key
    others = [Keypair.random().public_key for _ in range(3)]
    burst_rows = [ready(asset, burst, i) for i in range(40)]  # all older than the others
    other_rows = [ready(asset, account, 100 + i) for i, account in enumerate(others)]

    assert int(10 * WALLET_SHARE) < 10 - len(others)
    batch = claim_batch(10, 0)
    wallets = Counter(map(wallet_of, batch))
    assert len(batch) == 10
    assert {t.id for t in other_rows} <= {t.id for t in batch}  # not starved behind 40 older
    # The burst fills what the others leave, oldest first (its share only binds while
    # others wait).
    assert wallets[burst] == 7
    assert {t.id for t in batch if t.stellar_account == burst} == {t.id for t in burst_rows[:7]}

    # Nobody else waits: the burst takes whole batches, oldest first.
    batch = claim_batch(10, 0)
    assert {t.id for t in batch} == {t.id for t in burst_rows[7:17]}


def test_a_wallet_is_its_client_domain_when_it_has_one(db):
    asset, _ = make_asset()
    users = [Keypair.random().public_key for _ in range(12)]
    # Twelve users of one wallet application, all older than one user of another.
    for i, account in enumerate(users):
        ready(asset, account, i, client_domain="wallet.example")
    late = ready(asset, Keypair.random().public_key, 50, client_domain="other.example")

    batch = claim_batch(10, 0)
    assert late.id in {t.id for t in batch}
    assert Counter(map(wallet_of, batch)) == Counter({"wallet.example": 9, "other.example": 1})


def test_a_burst_for_one_asset_does_not_starve_another(db):
    busy, _ = make_asset("USD")
    quiet, _ = make_asset("EUR")
    for i in range(30):
        ready(busy, Keypair.random().public_key, i)
    lone = ready(quiet, Keypair.random().public_key, 100)  # funded after the whole burst

    first, second = claim_batch(10, 0), claim_batch(10, 1)  # two channels' turns
    assets = [{t.asset_id for t in first}, {t.asset_id for t in second}]
    assert {busy.id} in assets and [lone.id] in ([t.id for t in first], [t.id for t in second])


def test_a_batch_holds_as_many_distinct_deposits_as_are_ready_up_to_its_size(db):
    """The light wallets' rows are read twice (among the oldest, and as the others' oldest):
    each is still claimed once and the batch is full."""
    asset, _ = make_asset()
    heavy, light = Keypair.random().public_key, Keypair.random().public_key
    rows = [ready(asset, light if i % 20 == 0 else heavy, i) for i in range(100)]

    batch = claim_batch(100, 0)
    assert len(batch) == len({t.id for t in batch}) == 100
    assert {t.id for t in batch} == {t.id for t in rows}
