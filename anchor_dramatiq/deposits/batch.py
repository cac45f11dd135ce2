"""One batch of deposits into one stored envelope: which operations, the balance, build, store.

Shared by ``submit_deposit`` (a deposit and its ready batch-mates) and the pipeline (a
batch claimed on a leased channel). A transaction holds at most :data:`MAX_OPERATIONS`
operations (Stellar's limit); the envelope is stored, with the check that none of its
deposits has a live or paid submission, before anything submits it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal

from stellar_sdk import Account, Asset, Claimant, Keypair, TransactionBuilder

from anchor_dramatiq.config import Settings
from anchor_dramatiq.db import is_postgres
from anchor_dramatiq.deposits import multisig
from anchor_dramatiq.deposits.claims import conflicting, write_lock
from anchor_dramatiq.deposits.destination import account_of, destination_key
from anchor_dramatiq.deposits.encoding import memo_of, why_unencodable
from anchor_dramatiq.models import Asset as AssetRow
from anchor_dramatiq.models import Submission, Transaction
from anchor_dramatiq.network.answers import AccountState
from anchor_dramatiq.network.interface import Network
from anchor_dramatiq.stellar import channels
from anchor_dramatiq.stellar.keys import channel_keypair
from anchor_dramatiq.stellar.submission import account_state, max_ledger_for, network_fee, new_submission
from anchor_dramatiq.transitions import transition
from anchor_dramatiq.vocabulary import OperationKind, SubmissionPurpose, SubmissionStatus, TransactionStatus

log = logging.getLogger(__name__)

MAX_OPERATIONS = 100  # Stellar's limit per transaction

Plan = list[tuple[Transaction, list[OperationKind]]]


def encodable(transactions: list[Transaction]) -> list[Transaction]:
    """The deposits that can be encoded; the others end in ``error`` naming the field."""
    kept = []
    for transaction in transactions:
        why = why_unencodable(transaction)
        if why is None:
            kept.append(transaction)
            continue
        transition(transaction.id, [TransactionStatus.PENDING_ANCHOR], TransactionStatus.ERROR,
                   submission_status=SubmissionStatus.FAILED,
                   status_message=f"this deposit cannot be paid on Stellar: {why}",
                   queue=None, queued_at=None)
        log.error("deposit %s cannot be paid: %s", transaction.id, why)
    return kept


def plan_operations(batch: list[Transaction], destinations: dict, settings: Settings
          ) -> Plan:
    """Operations per deposit; deposits that cannot be paid now are parked as Polaris does."""
    plan = []
    created: set[str] = set()
    for transaction in batch:
        destination = destinations[destination_key(transaction)]
        claimable = transaction.claimable_balance_supported and settings.claimable_balances
        if destination.exists or destination.account in created:
            if destination.trusts and destination.account not in created:
                plan.append((transaction, [OperationKind.PAYMENT]))
            elif claimable:
                plan.append((transaction, [OperationKind.CLAIMABLE_BALANCE]))
            else:
                transition(transaction.id, [TransactionStatus.PENDING_ANCHOR],
                           TransactionStatus.PENDING_TRUST,
                           submission_status=SubmissionStatus.PENDING_TRUST, queue=None, queued_at=None,
                           status_message=None)
        elif settings.account_creation:
            created.add(destination.account)
            then = [OperationKind.CLAIMABLE_BALANCE] if claimable else []
            plan.append((transaction, [OperationKind.CREATE_ACCOUNT, *then]))
        else:
            transition(transaction.id, [TransactionStatus.PENDING_ANCHOR], TransactionStatus.PENDING_USER,
                       submission_status=SubmissionStatus.PENDING_FUNDING, queue=None, queued_at=None,
                       status_message=f"destination account {destination.account} does not exist: "
                                      "fund it to receive this deposit")
    return plan


def within_balance(plan: Plan, distribution: AccountState, asset: AssetRow) -> Plan:
    """Block, with a clear message, the deposits the distribution account cannot cover now."""
    line = distribution.trustline(asset.code, asset.issuer)
    if line is None or asset.issuer == distribution.account_id:
        return plan  # the issuer itself pays: no balance limit
    balance = line.balance
    kept, total = [], Decimal(0)
    for transaction, kinds in plan:
        pays = OperationKind.PAYMENT in kinds or OperationKind.CLAIMABLE_BALANCE in kinds
        need = transaction.amount_out if pays else 0
        if total + need > balance:
            block_all([(transaction, kinds)],
                       f"the distribution account holds {balance} {asset.code}, not enough for this "
                       f"deposit's {transaction.amount_out}: fund it, then set submission_status "
                       "to 'unblocked'")
            continue
        total += need
        kept.append((transaction, kinds))
    return kept


def block_all(plan: Plan, message: str) -> None:
    for transaction, _ in plan:
        (Transaction.update(submission_status=SubmissionStatus.BLOCKED, status_message=message, queue=None,
                            queued_at=None)
         .where((Transaction.id == transaction.id)
                & (Transaction.status == TransactionStatus.PENDING_ANCHOR)).execute())
        log.error("deposit %s blocked: %s", transaction.id, message)


def build_envelope(network: Network, plan: Plan, distribution: Keypair,
           lease: channels.ChannelLease | None, needs_signers: bool, settings: Settings):
    """Raises :class:`~anchor_dramatiq.errors.NoAnswer` when the source's sequence, the fee
    or the pace could not be read."""
    source_key = lease.public_key if lease else distribution.public_key
    source = Account(source_key, account_state(network, source_key).sequence)
    fee = network_fee(network, settings)
    builder = TransactionBuilder(source, settings.network_passphrase, base_fee=fee)
    validity = multisig.VALIDITY_S if needs_signers else settings.tx_timeout
    builder.add_time_bounds(0, int(time.time()) + validity)
    builder.set_ledger_bounds(0, max_ledger_for(network, validity))
    builder.add_memo(memo_of(plan[0][0]))
    items = []
    op_index = 0
    for transaction, kinds in plan:
        stellar_asset = Asset(transaction.asset.code, transaction.asset.issuer)
        account = account_of(transaction.to_address)
        for kind in kinds:
            if kind == OperationKind.PAYMENT:
                builder.append_payment_op(transaction.to_address, stellar_asset, str(transaction.amount_out),
                                          source=distribution.public_key)
            elif kind == OperationKind.CREATE_ACCOUNT:
                builder.append_create_account_op(account, str(settings.account_starting_balance),
                                                 source=distribution.public_key)
            else:
                builder.append_create_claimable_balance_op(
                    stellar_asset, str(transaction.amount_out), [Claimant(account)],
                    source=distribution.public_key)
            items.append((transaction.id, op_index, kind))
            op_index += 1
    envelope = builder.build()
    digest = envelope.hash()  # one hash of up to 100 operations for both signatures
    signers = [channel_keypair(lease.channel, settings.key())] if lease else []
    envelope.signatures += [signer.sign_decorated(digest) for signer in [*signers, distribution]]
    return envelope, items


def store_envelope(envelope, items: list, lease: channels.ChannelLease | None, lead: Transaction,
           needs_signers: bool) -> Submission | None:
    """Store the envelope unless any of its deposits already has a live or paid submission."""
    ids = sorted({transaction_id for transaction_id, _, _ in items})
    with write_lock():
        rows = Transaction.select(Transaction.id).where(
            Transaction.id.in_(ids) & (Transaction.status == TransactionStatus.PENDING_ANCHOR)
            & (Transaction.submission_status == SubmissionStatus.PROCESSING))
        if is_postgres():
            rows = rows.for_update()
        if len(list(rows)) != len(ids) or conflicting(ids):
            return None
        submission = new_submission(envelope, purpose=SubmissionPurpose.DEPOSIT,
                                    channel=lease.public_key if lease else None, items=items)
        if lease:
            expires = dt.datetime.fromtimestamp(submission.max_time, dt.UTC) + dt.timedelta(seconds=30)
            channels.hand_over(lease.public_key, lease.token, submission.hash, expires)
        if needs_signers:
            (Transaction.update(envelope_xdr=envelope.to_xdr(), pending_signatures=True,
                                submission_status=SubmissionStatus.BLOCKED, status_message=multisig.WAITING)
             .where(Transaction.id == lead.id).execute())
    return submission


def within_operations(plan: Plan, limit: int = MAX_OPERATIONS) -> tuple[Plan, Plan]:
    """The deposits that fit in one transaction (in order), and those left for the next."""
    kept: Plan = []
    used = 0
    for position, (transaction, kinds) in enumerate(plan):
        if used + len(kinds) > limit:
            return kept, plan[position:]
        kept.append((transaction, kinds))
        used += len(kinds)
    return kept, []
