"""The channel-account pool: transaction sources leased so two workers never share a sequence.

A channel is the *transaction* source (it supplies the sequence number and pays the fee)
while the operations' source is the distribution account. The network takes one
transaction per source account per ledger, so N channels let N submissions land in the
same ledger. A lease is held by the submission's hash from the moment it is stored until
its fate is settled, and expires on its own (after the envelope's max time) if the worker
holding it dies, so a crash never strands a channel. Expiry is on the database's clock;
each take raises the channel's ``lease_fence`` and the lease token carries it, and every
write under the lease compares the token, so a holder that lost its lease changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

from stellar_sdk import Account, Keypair, TransactionBuilder
from stellar_sdk import Asset as StellarAsset

from anchor_dramatiq import dbclock
from anchor_dramatiq.config import Settings
from anchor_dramatiq.crypto import Secret, encrypt_seed
from anchor_dramatiq.db import database, is_postgres, is_sqlite
from anchor_dramatiq.models import Channel, Submission
from anchor_dramatiq.network.answers import AccountState
from anchor_dramatiq.network.interface import Network
from anchor_dramatiq.stellar.submission import (
    Outcome,
    account_state,
    max_ledger_for,
    network_fee,
    new_submission,
    settle,
    submit,
)
from anchor_dramatiq.vocabulary import SubmissionPurpose, SubmissionState

log = logging.getLogger(__name__)

SETTLE_BACKOFF_S = (1.0, 2.0, 4.0, 8.0)
NATIVE = StellarAsset.native()


def lease_seconds(settings: Settings) -> int:
    """Long enough to build, submit and see the envelope's max time pass."""
    return settings.tx_timeout + int(settings.horizon_timeout) + 30


@dataclass(frozen=True)
class ChannelLease:
    """A channel taken by one worker, and the token every write under the lease compares."""

    channel: Channel
    token: str

    @property
    def public_key(self) -> str:
        return self.channel.public_key


def lease(settings: Settings, seconds: int | None = None) -> ChannelLease | None:
    """Take a free (or expired) channel, or None if all are busy."""
    expires = dbclock.shifted(seconds or lease_seconds(settings))
    free = (Channel.lease_expires_at.is_null()) | (Channel.lease_expires_at < dbclock.now())
    with _write_lock():
        query = Channel.select(Channel.public_key).where(free).order_by(Channel.lease_expires_at.asc(
            nulls="first"), Channel.public_key).limit(1)
        if is_postgres():
            query = query.for_update("FOR UPDATE SKIP LOCKED")
        key = query.scalar()
        if key is None:
            return None
        fence = Channel.select(Channel.lease_fence).where(Channel.public_key == key).scalar() + 1
        token = f"lease:{fence}:{uuid.uuid4().hex[:16]}"
        changed = (Channel.update(lease_owner=token, lease_expires_at=expires, lease_fence=fence)
                   .where((Channel.public_key == key) & free & (Channel.lease_fence == fence - 1)).execute())
    if not changed:
        return None
    return ChannelLease(Channel.get_by_id(key), token)


def hand_over(public_key: str, token: str, owner: str, expires_at: dt.datetime | None = None) -> bool:
    """Move a lease from its token to a stored submission's hash (optionally re-timed)."""
    fields: dict = {"lease_owner": owner}
    if expires_at is not None:
        fields["lease_expires_at"] = expires_at
    return bool(Channel.update(**fields)
                .where((Channel.public_key == public_key) & (Channel.lease_owner == token)).execute())


def release(public_key: str | None, owner: str) -> None:
    """Give a channel back; a no-op if someone else holds it now."""
    if not public_key:
        return
    (Channel.update(lease_owner=None, lease_expires_at=None)
     .where((Channel.public_key == public_key) & (Channel.lease_owner == owner)).execute())


def register(keypair: Keypair, settings: Settings) -> Channel:
    """Store a funded channel account, its seed encrypted like Polaris's distribution seeds."""
    return Channel.create(public_key=keypair.public_key,
                          encrypted_seed=encrypt_seed(Secret(keypair.secret), settings.key()))


def _write_lock():
    """SQLite: take the write lock up front so the select-then-update is one step."""
    if is_sqlite():
        return database.atomic(lock_type="IMMEDIATE")
    return database.atomic()


def create(network: Network, funder: Keypair, count: int, settings: Settings,
           starting_balance: str = "2") -> list[str]:
    """Create ``count`` channel accounts funded by ``funder`` and register them.

    Up to 100 accounts per transaction; each transaction goes through the submission
    protocol's store-then-submit, and a key is registered only once its account exists. An
    unknown outcome (a 504, a timeout) is settled by looking the hash up again until Horizon
    gives evidence either way — never by building a second funding transaction.
    Raises :class:`~anchor_dramatiq.errors.NoAnswer` when the funder could not be read.
    """
    created: list[str] = []
    while len(created) < count:
        keypairs = [Keypair.random() for _ in range(min(100, count - len(created)))]
        _fund(network, funder, settings, SubmissionPurpose.CHANNELS,
              lambda builder, keypairs=keypairs: [builder.append_create_account_op(k.public_key,
                                                                                    starting_balance)
                                                  for k in keypairs])
        with database.atomic():
            for keypair in keypairs:
                register(keypair, settings)
        created += [k.public_key for k in keypairs]
    return created


def ensure(network: Network, funder: Keypair, count: int, settings: Settings, starting_balance: str = "2",
           minimum_balance: str = "1") -> tuple[list[str], list[str]]:
    """Make the pool ``count`` channels, each holding at least ``minimum_balance`` XLM.

    Creates the missing accounts (:func:`create`) and tops up, back to ``starting_balance``,
    every registered channel below the minimum (fees are paid by the channel, so a busy
    pool drains). Returns (created, topped up). Top-ups go through the same store, submit
    and settle-by-hash protocol as the funding, up to 100 payments per transaction.
    """
    created = create(network, funder, count - Channel.select().count(), settings, starting_balance) \
        if Channel.select().count() < count else []
    low: list[tuple[str, Decimal]] = []
    keys = [channel.public_key for channel in Channel.select().order_by(Channel.created_at)]
    for key, answer in network.accounts(keys).items():
        if not isinstance(answer, AccountState):
            log.warning("channel %s: %s; not topped up", key, answer)
            continue
        if answer.balance < Decimal(minimum_balance):
            low.append((key, Decimal(starting_balance) - answer.balance))
    for start in range(0, len(low), 100):
        chunk = low[start:start + 100]
        _fund(network, funder, settings, SubmissionPurpose.CHANNELS,
              lambda builder, chunk=chunk: [builder.append_payment_op(key, NATIVE, str(amount))
                                            for key, amount in chunk])
    return created, [key for key, _ in low]


def _fund(network: Network, funder: Keypair, settings: Settings, purpose: str, add_ops) -> Submission:
    """Build, store, submit and settle one funding transaction from ``funder``."""
    funder_account = Account(funder.public_key, account_state(network, funder.public_key).sequence)
    builder = TransactionBuilder(funder_account, settings.network_passphrase,
                                 base_fee=network_fee(network, settings))
    add_ops(builder)
    builder.set_timeout(settings.tx_timeout)
    builder.set_ledger_bounds(0, max_ledger_for(network, settings.tx_timeout))
    envelope = builder.build()
    envelope.sign(funder)
    with database.atomic():
        submission = new_submission(envelope, purpose=purpose, channel=None, items=[])
    outcome = _settled(network, submit(network, submission), settings)
    if outcome.state != SubmissionState.SUCCEEDED:
        raise RuntimeError(f"funding channel accounts failed: {outcome.state} {outcome.tx_code or ''} "
                           f"{outcome.op_codes or ''} (transaction {submission.hash})")
    return submission


def _settled(network: Network, outcome: Outcome, settings: Settings) -> Outcome:
    """Look the funding transaction up until its fate is known (bounded by its validity)."""
    deadline = time.monotonic() + 3 * (settings.tx_timeout + settings.horizon_timeout)
    attempt = 0
    while outcome.state == SubmissionState.PENDING and time.monotonic() < deadline:
        time.sleep(SETTLE_BACKOFF_S[min(attempt, len(SETTLE_BACKOFF_S) - 1)])
        attempt += 1
        log.info("channel funding %s: outcome unknown, looking again", outcome.submission.hash)
        outcome = settle(network, outcome.submission)
    return outcome
