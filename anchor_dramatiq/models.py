"""peewee models: django-polaris 2.6's tables as they are, and the project's ``anchor_*`` tables.

The Polaris models declare exactly the columns of Polaris's migrations 0001-0014 (names,
types, nullability), so an existing Polaris database is read and written in place.
"""

from __future__ import annotations

import decimal
import uuid
from decimal import Decimal

import peewee as pw

from anchor_dramatiq.crypto import Secret, decrypt_seed
from anchor_dramatiq.db import (
    AmountField,
    ExactAmountField,
    PolarisUUIDField,
    UnsignedIntegerField,
    UTCDateTimeField,
    database,
    utcnow,
)
from anchor_dramatiq.vocabulary import (
    PaymentOutcome,
    RefundState,
    SubmissionState,
    SubmissionStatus,
    TransactionKind,
    TransactionStatus,
)

MAX_AMOUNT = Decimal(decimal.MAX_EMAX)


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


# --------------------------------------------------------------------------- Polaris tables


class Asset(BaseModel):
    """``polaris_asset``: an asset the anchor issues; its distribution seed is encrypted."""

    id = pw.AutoField()
    created = UTCDateTimeField(default=utcnow)
    modified = UTCDateTimeField(default=utcnow)
    code = pw.TextField()
    issuer = pw.TextField()
    significant_decimals = pw.IntegerField(default=2)
    deposit_enabled = pw.BooleanField(default=True)
    deposit_fee_fixed = AmountField(null=True)
    deposit_fee_percent = AmountField(null=True)
    deposit_min_amount = AmountField(default=Decimal(0))
    deposit_max_amount = AmountField(default=MAX_AMOUNT)
    withdrawal_enabled = pw.BooleanField(default=True)
    withdrawal_fee_fixed = AmountField(null=True)
    withdrawal_fee_percent = AmountField(null=True)
    withdrawal_min_amount = AmountField(default=Decimal(0))
    withdrawal_max_amount = AmountField(default=MAX_AMOUNT)
    send_fee_fixed = AmountField(null=True)
    send_fee_percent = AmountField(null=True)
    send_min_amount = AmountField(default=Decimal(0))
    send_max_amount = AmountField(default=MAX_AMOUNT)
    distribution_seed = pw.TextField(null=True)
    sep24_enabled = pw.BooleanField(default=False)
    sep6_enabled = pw.BooleanField(default=False)
    sep31_enabled = pw.BooleanField(default=False)
    symbol = pw.TextField(default="$")
    sep38_enabled = pw.BooleanField(default=False)

    class Meta:
        table_name = "polaris_asset"

    def __repr__(self) -> str:
        return f"<Asset {self.id} {self.code}:{self.issuer}>"

    __str__ = __repr__

    def distribution_secret(self, secret_key: Secret) -> Secret:
        """The distribution account's seed, decrypted only to sign."""
        if not self.distribution_seed:
            raise ValueError(f"asset {self.code} has no distribution seed")
        return decrypt_seed(self.distribution_seed, secret_key)

    @property
    def asset_key(self) -> str:
        return f"{self.code}:{self.issuer}"


class Quote(BaseModel):
    """``polaris_quote``: SEP-38 quotes, read-only here."""

    id = PolarisUUIDField(primary_key=True)
    stellar_account = pw.TextField()
    account_memo = UnsignedIntegerField(null=True, constraints=[pw.Check('"account_memo" >= 0')])
    muxed_account = pw.TextField(null=True)
    type = pw.TextField()
    sell_asset = pw.TextField()
    buy_asset = pw.TextField()
    sell_amount = AmountField()
    buy_amount = AmountField(null=True)
    price = AmountField(null=True)
    expires_at = UTCDateTimeField(null=True)
    country_code = pw.TextField(null=True)
    requested_expire_after = UTCDateTimeField(null=True)
    buy_delivery_method_id = pw.IntegerField(null=True)
    sell_delivery_method_id = pw.IntegerField(null=True)

    class Meta:
        table_name = "polaris_quote"

    def save(self, *args: object, **kwargs: object) -> int:
        raise NotImplementedError("quotes belong to the anchor's API server; they are read-only here")


class Transaction(BaseModel):
    """``polaris_transaction``: one SEP-6/24/31 transaction; the source of truth for every flow."""

    id = PolarisUUIDField(primary_key=True, default=uuid.uuid4)
    paging_token = pw.TextField(null=True)
    stellar_account = pw.TextField()
    kind = pw.CharField(max_length=20, default=TransactionKind.DEPOSIT)
    status = pw.CharField(max_length=31, default=TransactionStatus.PENDING_EXTERNAL)
    status_eta = pw.IntegerField(null=True)
    status_message = pw.TextField(null=True)
    stellar_transaction_id = pw.TextField(null=True)
    external_transaction_id = pw.TextField(null=True)
    amount_in = AmountField(null=True)
    amount_out = AmountField(null=True)
    amount_fee = AmountField(null=True)
    started_at = UTCDateTimeField(default=utcnow)
    completed_at = UTCDateTimeField(null=True)
    from_address = pw.TextField(null=True)
    to_address = pw.TextField(null=True)
    required_info_updates = pw.TextField(null=True)
    required_info_message = pw.TextField(null=True)
    memo = pw.TextField(null=True)
    memo_type = pw.CharField(max_length=10, default="text")
    receiving_anchor_account = pw.TextField(null=True)
    refunded = pw.BooleanField(default=False)
    protocol = pw.CharField(max_length=5, null=True)
    asset = pw.ForeignKeyField(Asset, column_name="asset_id", backref="transactions",
                               on_delete="CASCADE", index=False)
    envelope_xdr = pw.TextField(null=True)
    pending_signatures = pw.BooleanField(default=False)
    channel_seed = pw.TextField(null=True)
    claimable_balance_id = pw.TextField(null=True)
    claimable_balance_supported = pw.BooleanField(default=False)
    more_info_url = pw.TextField(null=True)
    on_change_callback = pw.TextField(null=True)
    pending_execution_attempt = pw.BooleanField(default=False)
    client_domain = pw.TextField(null=True)
    amount_expected = AmountField(null=True)
    account_memo = UnsignedIntegerField(null=True, constraints=[pw.Check('"account_memo" >= 0')])
    muxed_account = pw.TextField(null=True)
    fee_asset = pw.TextField(null=True)
    quote_id = PolarisUUIDField(null=True)
    queue = pw.TextField(null=True)
    queued_at = UTCDateTimeField(null=True)
    submission_status = pw.CharField(max_length=31, default=SubmissionStatus.NOT_READY)

    class Meta:
        table_name = "polaris_transaction"

    def __repr__(self) -> str:
        return f"<Transaction {self.id} {self.kind} {self.status}>"

    __str__ = __repr__


# --------------------------------------------------------------------------- anchor tables


class Submission(BaseModel):
    """``anchor_submission``: a Stellar transaction the anchor built, stored before submitting.

    ``state``: built -> submitted -> succeeded | failed | expired. Its fate is settled by
    looking up ``hash`` on Horizon, never by guessing. ``max_ledger`` is the envelope's
    ledger bound (it can only apply in a ledger below it); null for rows stored before it.
    """

    id = pw.BigAutoField()
    hash = pw.CharField(max_length=64, unique=True)
    inner_hash = pw.CharField(max_length=64, null=True, index=True)
    source_account = pw.CharField(max_length=56)
    sequence = pw.BigIntegerField()
    envelope_xdr = pw.TextField()
    max_time = pw.BigIntegerField()
    max_ledger = pw.BigIntegerField(null=True)
    fee = pw.BigIntegerField()
    purpose = pw.CharField(max_length=32)
    state = pw.CharField(max_length=16, default=SubmissionState.BUILT, index=True)
    result_codes = pw.TextField(null=True)
    result_xdr = pw.TextField(null=True)
    error = pw.TextField(null=True)
    ledger = pw.IntegerField(null=True)
    paging_token = pw.CharField(max_length=32, null=True)
    channel = pw.CharField(max_length=56, null=True)
    attempts = pw.IntegerField(default=0)
    created_at = UTCDateTimeField(default=utcnow)
    submitted_at = UTCDateTimeField(null=True)
    settled_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "anchor_submission"

    def __repr__(self) -> str:
        return f"<Submission {self.id} {self.hash[:12]} {self.purpose} {self.state}>"


class SubmissionItem(BaseModel):
    """``anchor_submission_item``: which Polaris transaction each operation of a submission pays."""

    id = pw.BigAutoField()
    submission = pw.ForeignKeyField(Submission, backref="items", on_delete="CASCADE")
    transaction_id = PolarisUUIDField(index=True)
    op_index = pw.IntegerField()
    op_kind = pw.CharField(max_length=32)

    class Meta:
        table_name = "anchor_submission_item"
        indexes = ((("submission", "op_index"), True),)


class Payment(BaseModel):
    """``anchor_payment``: every payment operation seen on a watched account, matched or not."""

    id = pw.BigAutoField()
    operation_id = pw.CharField(max_length=32, unique=True)
    paging_token = pw.CharField(max_length=32)
    account = pw.CharField(max_length=56, index=True)
    transaction_hash = pw.CharField(max_length=64)
    operation_type = pw.CharField(max_length=40)
    from_address = pw.CharField(max_length=69, null=True)
    to_address = pw.CharField(max_length=56, null=True)
    to_muxed = pw.CharField(max_length=69, null=True)
    to_muxed_id = pw.CharField(max_length=20, null=True)
    asset_type = pw.CharField(max_length=24, null=True)
    asset_code = pw.CharField(max_length=12, null=True)
    asset_issuer = pw.CharField(max_length=56, null=True)
    amount = ExactAmountField(null=True)
    memo = pw.TextField(null=True)
    memo_type = pw.CharField(max_length=10, null=True)
    successful = pw.BooleanField()
    ledger = pw.IntegerField(null=True)
    created_at = UTCDateTimeField(null=True)
    recorded_at = UTCDateTimeField(default=utcnow)
    outcome = pw.CharField(max_length=16, default=PaymentOutcome.PENDING, index=True)
    reason = pw.TextField(null=True)
    transaction_id = PolarisUUIDField(null=True, index=True)
    published_at = UTCDateTimeField(null=True)
    processed_at = UTCDateTimeField(null=True)
    record_json = pw.TextField(null=True)
    # The contract that emitted an event claiming one of the anchor's assets when it is not
    # that asset's own Stellar Asset Contract: nothing moved; never matched or refunded.
    forged_by = pw.CharField(max_length=56, null=True)

    class Meta:
        table_name = "anchor_payment"

    def __repr__(self) -> str:
        return f"<Payment {self.operation_id} {self.outcome}>"


class Refund(BaseModel):
    """``anchor_refund``: sending one incoming payment (or part of it) back to its sender.

    One row per payment at most (the unique key that makes a refund requested twice, or by
    two operators at once, one refund). Its Stellar transactions are ``anchor_submission``
    rows whose item names this row's ``id``; ``state`` follows their settled fate.
    """

    id = PolarisUUIDField(primary_key=True, default=uuid.uuid4)
    payment = pw.ForeignKeyField(Payment, unique=True, backref="refunds", on_delete="RESTRICT")
    transaction_id = PolarisUUIDField(null=True, index=True)
    amount = ExactAmountField()
    fee = ExactAmountField(default=Decimal(0))
    destination = pw.CharField(max_length=69)
    state = pw.CharField(max_length=16, default=RefundState.REQUESTED, index=True)
    reason = pw.TextField(null=True)
    requested_by = pw.CharField(max_length=64)
    stellar_transaction_id = pw.CharField(max_length=64, null=True)
    created_at = UTCDateTimeField(default=utcnow)
    paid_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "anchor_refund"

    def __repr__(self) -> str:
        return f"<Refund {self.id} {self.amount} {self.state}>"


class Cursor(BaseModel):
    """``anchor_cursor``: per watched account, the last paging token recorded in anchor_payment."""

    account = pw.CharField(max_length=56, primary_key=True)
    paging_token = pw.CharField(max_length=32)
    last_ledger = pw.IntegerField(null=True)
    last_event_at = UTCDateTimeField(null=True)
    updated_at = UTCDateTimeField(default=utcnow)
    # Why the stream cannot read on from here (ledgers its RPC node no longer keeps), while it
    # fills them from Horizon or is held; NULL when it streams normally.
    gap = pw.TextField(null=True)

    class Meta:
        table_name = "anchor_cursor"


class Channel(BaseModel):
    """``anchor_channel``: a channel account; leased so two workers never share its sequence."""

    public_key = pw.CharField(max_length=56, primary_key=True)
    encrypted_seed = pw.TextField()
    lease_owner = pw.CharField(max_length=64, null=True)
    lease_expires_at = UTCDateTimeField(null=True)
    lease_fence = pw.BigIntegerField(default=0)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "anchor_channel"

    def __repr__(self) -> str:
        return f"<Channel {self.public_key}>"

    def secret(self, secret_key: Secret) -> Secret:
        return decrypt_seed(self.encrypted_seed, secret_key)


class Lease(BaseModel):
    """``anchor_lease``: a time-bounded claim on one transaction for one action.

    ``expires_at`` is on the database's clock and renewed while the holder lives; a worker
    that dies leaves a lease that expires, and the next sweep may retake it. ``fence`` is
    a fencing token, higher on every take, that each write under the claim checks.
    """

    id = pw.BigAutoField()
    transaction_id = PolarisUUIDField()
    action = pw.CharField(max_length=32)
    owner = pw.CharField(max_length=64)
    expires_at = UTCDateTimeField()
    attempts = pw.IntegerField(default=0)
    updated_at = UTCDateTimeField(default=utcnow)
    fence = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "anchor_lease"
        indexes = ((("transaction_id", "action"), True),)


class FenceCounter(BaseModel):
    """``anchor_fence``: the source of fencing tokens, one counter per kind of claim.

    A counter apart from the claims themselves, so a token stays higher than every earlier
    one even after a finished claim's row was deleted.
    """

    name = pw.CharField(max_length=32, primary_key=True)
    value = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "anchor_fence"


class Payout(BaseModel):
    """``anchor_payout``: the durable record of a payout call, written before the rails are called.

    ``state``: ``queued`` (the sweep nudged it; not called yet) -> ``started`` (committed
    before the call) -> ``done`` (result saved with the transaction) | ``held`` (the outcome
    is unknown: ``payout_status`` or a person decides) -> ``released`` (proven not paid:
    executable once more). Nothing calls the rails again for a payout ``started`` or ``held``
    unless the integration declared its payouts idempotent on ``idempotency_key``.
    """

    id = pw.BigAutoField()
    transaction_id = PolarisUUIDField(unique=True)
    attempt = pw.IntegerField(default=1)
    idempotency_key = pw.CharField(max_length=64)
    state = pw.CharField(max_length=16, index=True)
    fence = pw.BigIntegerField(default=0)
    started_at = UTCDateTimeField(null=True)
    finished_at = UTCDateTimeField(null=True)
    nudged_at = UTCDateTimeField(null=True)
    status_message = pw.TextField(null=True)

    class Meta:
        table_name = "anchor_payout"

    def __repr__(self) -> str:
        return f"<Payout {self.transaction_id} attempt {self.attempt} {self.state}>"


class JobRun(BaseModel):
    """``anchor_job_run``: one row per periodic tick, so a doubled tick runs once."""

    id = pw.BigAutoField()
    actor = pw.CharField(max_length=64)
    tick = pw.CharField(max_length=32)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "anchor_job_run"
        indexes = ((("actor", "tick"), True),)


class SchemaVersion(BaseModel):
    """``anchor_schema_version``: migrations applied, forward-only."""

    version = pw.IntegerField(primary_key=True)
    name = pw.CharField(max_length=64)
    applied_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "anchor_schema_version"


POLARIS_MODELS = (Asset, Quote, Transaction)
ANCHOR_MODELS = (Submission, SubmissionItem, Payment, Cursor, Channel, Lease, JobRun, FenceCounter, Payout,
                 Refund)
