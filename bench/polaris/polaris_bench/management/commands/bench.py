"""``manage.py bench ...``: create and read rows through Polaris's own Django models.

The interop test and the benchmarks drive Polaris through this command (run with the
Polaris venv's python) so that every row they compare is written and read by Polaris 2.6
itself. Output is one JSON document on stdout. A distribution seed is only ever read from
the ``POLARIS_BENCH_DISTRIBUTION_SEED`` variable, never from the command line or output.

    manage.py bench asset --code USD --issuer G... [--deposit-fee-fixed 1 ...]
    manage.py bench deposits --asset 1 --amount 100 --to G... [--to G...] [--count N] [--ready]
    manage.py bench withdrawals --asset 1 --amount 50 [--count N] [--paid]
    manage.py bench pending --asset 1 --count 100000
    manage.py bench sweep
    manage.py bench read ID [ID ...]
"""

import json
import os
import resource
import time
import uuid
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from polaris.integrations import registered_custody_integration as rci
from polaris.management.commands.process_pending_deposits import (
    SUBMIT_TRANSACTION_QUEUE,
    ProcessPendingDeposits,
)
from polaris.models import Asset, Transaction
from polaris.utils import validate_account_and_memo

READ_FIELDS = ("id", "kind", "protocol", "status", "submission_status", "stellar_transaction_id",
               "external_transaction_id", "amount_expected", "amount_in", "amount_fee", "amount_out",
               "paging_token", "from_address", "to_address", "memo", "memo_type",
               "receiving_anchor_account", "status_message", "started_at", "completed_at")
BULK = 2000


def _value(value):
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


class Command(BaseCommand):
    help = "Create and read Polaris rows for the side by side interop test and benchmarks."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        asset = sub.add_parser("asset")
        asset.add_argument("--code", required=True)
        asset.add_argument("--issuer", required=True)
        asset.add_argument("--significant-decimals", type=int, default=2)
        for name in ("deposit-fee-fixed", "deposit-fee-percent", "withdrawal-fee-fixed",
                     "withdrawal-fee-percent"):
            asset.add_argument(f"--{name}", type=Decimal)
        deposits = sub.add_parser("deposits")
        deposits.add_argument("--asset", type=int, required=True)
        deposits.add_argument("--amount", type=Decimal, required=True)
        deposits.add_argument("--to", action="append", required=True)
        deposits.add_argument("--count", type=int, default=1)
        deposits.add_argument("--ready", action="store_true",
                              help="funded and queued for submission (pending_anchor, ready)")
        withdrawals = sub.add_parser("withdrawals")
        withdrawals.add_argument("--asset", type=int, required=True)
        withdrawals.add_argument("--amount", type=Decimal, required=True)
        withdrawals.add_argument("--count", type=int, default=1)
        withdrawals.add_argument("--paid", action="store_true",
                                 help="already matched to a payment: pending_anchor, amount_in set")
        pending = sub.add_parser("pending")
        pending.add_argument("--asset", type=int, required=True)
        pending.add_argument("--count", type=int, required=True)
        sub.add_parser("sweep")
        read = sub.add_parser("read")
        read.add_argument("ids", nargs="+")

    def handle(self, *args, **options):
        result = getattr(self, "_" + options["action"])(options)
        self.stdout.write(json.dumps(result))

    def _asset(self, options):
        seed = os.environ.get("POLARIS_BENCH_DISTRIBUTION_SEED")
        if not seed:
            raise CommandError("POLARIS_BENCH_DISTRIBUTION_SEED is not set")
        fees = {key: options[key] for key in ("deposit_fee_fixed", "deposit_fee_percent",
                                               "withdrawal_fee_fixed", "withdrawal_fee_percent")
                if options[key] is not None}
        asset = Asset.objects.create(code=options["code"], issuer=options["issuer"],
                                     significant_decimals=options["significant_decimals"],
                                     distribution_seed=seed, sep24_enabled=True, **fees)
        return {"id": asset.id, "distribution_account": asset.distribution_account}

    def _deposits(self, options):
        """SEP-24 deposits as Polaris's interactive flow leaves them: waiting for the user's funds
        (or, with ``--ready``, funded and queued for submission)."""
        asset = Asset.objects.get(id=options["asset"])
        amount = options["amount"]
        rows = []
        for i in range(options["count"]):
            to = options["to"][i % len(options["to"])]
            row = Transaction(id=uuid.uuid4(), stellar_account=to, to_address=to, asset=asset,
                              kind=Transaction.KIND.deposit, protocol=Transaction.PROTOCOL.sep24,
                              status=Transaction.STATUS.pending_user_transfer_start,
                              amount_expected=amount, memo_type=Transaction.MEMO_TYPES.text)
            if options["ready"]:
                row.status, row.submission_status = (Transaction.STATUS.pending_anchor,
                                                     Transaction.SUBMISSION_STATUS.ready)
                row.amount_in, row.amount_fee, row.amount_out = amount, Decimal(0), amount
                row.queue, row.queued_at = SUBMIT_TRANSACTION_QUEUE, timezone.now()
            rows.append(row)
        Transaction.objects.bulk_create(rows, batch_size=BULK)
        return {"ids": [str(row.id) for row in rows]}

    def _withdrawals(self, options):
        """SEP-24 withdrawals waiting for the user's Stellar payment, with the receiving account
        and memo Polaris's own custody integration gives (distribution account, hash memo)."""
        asset = Asset.objects.get(id=options["asset"])
        rows = []
        for _ in range(options["count"]):
            row = Transaction(id=uuid.uuid4(), stellar_account=asset.distribution_account, asset=asset,
                              kind=Transaction.KIND.withdrawal, protocol=Transaction.PROTOCOL.sep24,
                              status=Transaction.STATUS.pending_user_transfer_start,
                              amount_expected=options["amount"])
            account, memo, memo_type = validate_account_and_memo(
                *rci.get_receiving_account_and_memo(request=None, transaction=row))
            row.receiving_anchor_account, row.memo, row.memo_type = account, memo, memo_type
            if options["paid"]:
                row.status, row.amount_in = Transaction.STATUS.pending_anchor, options["amount"]
            rows.append(row)
        Transaction.objects.bulk_create(rows, batch_size=BULK)
        return {"withdrawals": [{"id": str(r.id), "memo": r.memo, "memo_type": r.memo_type,
                                 "receiving_anchor_account": r.receiving_anchor_account} for r in rows]}

    def _pending(self, options):
        """Deposits the rails will not fund (no amount_expected): the backlog a sweep walks over."""
        asset = Asset.objects.get(id=options["asset"])
        account = asset.distribution_account
        made = 0
        while made < options["count"]:
            batch = [Transaction(id=uuid.uuid4(), stellar_account=account, to_address=account, asset=asset,
                                 kind=Transaction.KIND.deposit, protocol=Transaction.PROTOCOL.sep24,
                                 status=Transaction.STATUS.pending_user_transfer_start)
                     for _ in range(min(BULK, options["count"] - made))]
            Transaction.objects.bulk_create(batch)
            made += len(batch)
        return {"created": made}

    def _sweep(self, options):
        """One pass of the deposit poll process_pending_deposits makes every interval, measured."""
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        ready = ProcessPendingDeposits.get_ready_deposits()
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"seconds": seconds, "rss_before_kib": before, "rss_peak_kib": peak, "ready": len(ready)}

    def _read(self, options):
        rows = Transaction.objects.filter(id__in=[uuid.UUID(i) for i in options["ids"]])
        return {"transactions": [{f: _value(getattr(row, f)) for f in READ_FIELDS} for row in rows]}
