"""What the demo shows: live progress, the closing table, and the check against the ledger."""

from __future__ import annotations

import statistics
from collections import Counter
from decimal import Decimal

from peewee import fn

from anchor_dramatiq.demo.world import TREASURY, WALLET_BALANCE, World
from anchor_dramatiq.models import Payment, Refund, Submission, Transaction
from anchor_dramatiq.paging import is_event_id
from anchor_dramatiq.vocabulary import (
    FINAL_STATUSES,
    PROBLEM_OUTCOMES,
    NetworkApi,
    PaymentOutcome,
    RefundState,
    SubmissionPurpose,
    SubmissionState,
    TransactionStatus,
)

BAR_WIDTH = 24


def status_counts(ids: list) -> Counter:
    query = (Transaction.select(Transaction.status, fn.COUNT(Transaction.id))
             .where(Transaction.id.in_(ids)).group_by(Transaction.status).tuples())
    return Counter(dict(query))


def bar(done: int, total: int) -> str:
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    return "[" + "#" * filled + "." * (BAR_WIDTH - filled) + f"] {done}/{total}"


def progress_line(world: World) -> tuple[str, bool]:
    """One line of live progress, and whether every transaction is terminal."""
    deposits, withdrawals = status_counts(world.deposits), status_counts(world.withdrawals)
    done_d = sum(n for s, n in deposits.items() if s in FINAL_STATUSES)
    done_w = sum(n for s, n in withdrawals.items() if s in FINAL_STATUSES)
    ticking = " ".join(f"{s}={n}" for s, n in sorted((deposits + withdrawals).items()))
    line = (f"deposits {bar(done_d, len(world.deposits))}  "
            f"withdrawals {bar(done_w, len(world.withdrawals))}  {ticking}")
    refunds = refunds_settled(world)
    if world.refund_rejected:
        line += f"  refund {'paid' if refunds else 'waiting'}"
    return line, done_d == len(world.deposits) and done_w == len(world.withdrawals) and refunds


def refunds_settled(world: World) -> bool:
    """With --refund-rejected: the look-alike payment's refund is paid (or failed, for the check)."""
    if not (world.refund_rejected and world.withdrawals):
        return True
    return Refund.select().where(Refund.state != RefundState.REQUESTED).exists()


def summary(world: World, elapsed: float) -> list[str]:
    """The closing table."""
    ids = world.deposits + world.withdrawals
    rows = (Transaction.select(Transaction.kind, Transaction.status, fn.COUNT(Transaction.id))
            .where(Transaction.id.in_(ids)).group_by(Transaction.kind, Transaction.status).tuples())
    succeeded = Submission.select().where((Submission.state == SubmissionState.SUCCEEDED)
                                          & (Submission.purpose != SubmissionPurpose.CHANNELS))
    ledgers = {s.ledger for s in succeeded if s.ledger}
    deposit_rows = list(Transaction.select().where(Transaction.id.in_(world.deposits)
                                                   & (Transaction.status == TransactionStatus.COMPLETED)))
    waits = [(t.completed_at - t.queued_at).total_seconds() for t in deposit_rows
             if t.completed_at and t.queued_at]
    lines = ["", "transactions by final status"]
    lines += [f"  {kind:<12} {status:<28} {count:>6}" for kind, status, count in sorted(rows)]
    lines += [
        "stellar",
        f"  transactions submitted       {succeeded.count():>6}",
        f"  ledgers used                 {len(ledgers):>6}",
        f"  deposits per ledger          {len(deposit_rows) / max(len(ledgers), 1):>6.1f}",
    ]
    if waits:
        lines.append(f"  funding -> completed         median {statistics.median(waits):.2f}s, "
                     f"max {max(waits):.2f}s")
    lines.append(f"  payments recorded            {Payment.select().count():>6}  read from "
                 f"{_ingest_source()}")
    lines.append("payments needing a human or refunded (anchor-dramatiq payments list)")
    shown = Payment.select().where(Payment.outcome.in_([*PROBLEM_OUTCOMES, PaymentOutcome.INTERNAL]))
    for p in shown:
        refund = Refund.get_or_none(Refund.payment == p.id)
        lines.append(f"  {p.outcome:<10} {p.amount} {p.asset_code}:{(p.asset_issuer or '')[:8]}… "
                     f"from {(p.from_address or '')[:8]}…  {p.reason}")
        if refund is not None:
            lines.append(f"  {'':<10} refund {refund.amount}: {refund.state}"
                         f" {refund.stellar_transaction_id or refund.reason or ''}")
    if not shown.exists():
        lines.append("  none")
    lines.append(f"finished in {elapsed:.1f}s")
    return lines


def discrepancies(world: World) -> list[str]:
    """Everything that disagrees between the database and the simnet ledger; empty if all is right."""
    problems: list[str] = []
    sim, asset = world.sim, world.stellar_asset
    deposits = list(Transaction.select().where(Transaction.id.in_(world.deposits)))
    withdrawals = list(Transaction.select().where(Transaction.id.in_(world.withdrawals)))
    for row in deposits + withdrawals:
        if row.status != TransactionStatus.COMPLETED:
            problems.append(f"{row.kind} {row.id} ended {row.status}: {row.status_message}")
        elif not row.stellar_transaction_id or not (sim.transaction(row.stellar_transaction_id) or {}).get(
                "successful"):
            problems.append(f"{row.kind} {row.id}: stellar transaction {row.stellar_transaction_id} "
                            "not successful on the ledger")
    owed: dict[str, Decimal] = {}
    for row in deposits:
        if row.status == TransactionStatus.COMPLETED:
            owed[row.to_address] = owed.get(row.to_address, Decimal(0)) + row.amount_out
    for user in world.depositors:
        expected = owed.get(user.public_key, Decimal(0))
        got = sim.balance(user.public_key, asset)
        if got != expected:
            problems.append(f"depositor {user.public_key} holds {got}, deposits paid {expected}")
    for row in withdrawals:
        if row.status == TransactionStatus.COMPLETED and row.amount_in != row.amount_expected:
            problems.append(f"withdrawal {row.id}: amount_in {row.amount_in} != {row.amount_expected}")
    by_id = {row.id: row for row in withdrawals}
    sent = [by_id[tx_id].amount_expected for tx_id in world.withdrawals]  # what each wallet paid
    paid_out = sum((r.amount_out for r in deposits if r.status == TransactionStatus.COMPLETED), Decimal(0))
    stray_memo_less = Decimal("12.34")
    expected_distribution = TREASURY + sum(sent, Decimal(0)) + stray_memo_less - paid_out
    got = sim.balance(world.distribution.public_key, asset)
    if got != expected_distribution:
        problems.append(f"distribution holds {got}, the database says {expected_distribution}")
    for user, amount in zip(world.withdrawers, sent, strict=False):
        if sim.balance(user.public_key, asset) != WALLET_BALANCE - amount:
            problems.append(f"withdrawer {user.public_key} was charged other than {amount}")
    outcomes = Counter(p.outcome for p in Payment.select())
    # internal: the issuer's treasury top-up; unmatched: the stray memo-less payment
    expected_outcomes = Counter({PaymentOutcome.MATCHED: len(world.withdrawals), PaymentOutcome.UNMATCHED: 1,
                                 PaymentOutcome.INTERNAL: 1,
                                 PaymentOutcome.REJECTED: 1 if world.withdrawals else 0})
    if +outcomes != +expected_outcomes:
        problems.append(f"payments recorded {dict(outcomes)}, expected {dict(+expected_outcomes)}")
    if world.withdrawals:
        problems += _look_alike_problems(world, sent[0])
    if world.network_api == NetworkApi.RPC:
        problems += [f"payment {p.operation_id} was read from Horizon (paging token {p.paging_token}), "
                     "not from RPC's events" for p in Payment.select() if not is_event_id(p.paging_token)]
    return problems


def _ingest_source() -> str:
    """Where the streamer read the payments: RPC events (event-id cursors) or Horizon."""
    tokens = [p.paging_token for p in Payment.select(Payment.paging_token)]
    if tokens and all(is_event_id(t) for t in tokens):
        return "Stellar RPC getEvents"
    if any(is_event_id(t) for t in tokens):
        return "Stellar RPC getEvents and Horizon"
    return "Horizon"


def _look_alike_problems(world: World, amount: Decimal) -> list[str]:
    """The look-alike payment: refunded once on the ledger with --refund-rejected, else kept."""
    sim, stray = world.sim, world.withdrawers[-1]
    refunds = list(Refund.select())
    held = sim.balance(stray.public_key, world.fake_asset)
    if not world.refund_rejected:
        if refunds:
            return [f"{len(refunds)} refunds made without --refund-rejected"]
        if held != WALLET_BALANCE - amount:
            return [f"the look-alike payer holds {held}, expected {WALLET_BALANCE - amount}"]
        return []
    if len(refunds) != 1 or refunds[0].state != RefundState.PAID:
        found = [(r.state, r.reason) for r in refunds]
        return [f"the look-alike payment's refund: {found}, expected one paid"]
    refund = refunds[0]
    on_ledger = [p for p in sim.payments(world.distribution.public_key)
                 if p["transaction_hash"] == refund.stellar_transaction_id and p["successful"]]
    problems = []
    if [(p["to"], Decimal(p["amount"])) for p in on_ledger] != [(stray.public_key, amount)]:
        problems.append(f"refund {refund.stellar_transaction_id} on the ledger: {on_ledger}")
    refunds_sent = [p for p in sim.payments(world.distribution.public_key)
                    if p["to"] == stray.public_key and p["successful"]]
    if len(refunds_sent) != 1:
        problems.append(f"{len(refunds_sent)} payments back to the look-alike payer, expected 1")
    if held != WALLET_BALANCE:
        problems.append(f"the look-alike payer holds {held} after its refund, expected {WALLET_BALANCE}")
    return problems
