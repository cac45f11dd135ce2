"""``payouts``: held payouts (a call started, outcome unknown) and their resolution by a person."""

from __future__ import annotations

import json
import uuid

import click

from anchor_dramatiq.models import Payout, Transaction
from anchor_dramatiq.vocabulary import PayoutState, TransactionStatus

#: The states as click shows them (by value: click matches Enum choices by name).
STATES = tuple(s.value for s in (PayoutState.HELD, PayoutState.STARTED, PayoutState.RELEASED,
                                 PayoutState.QUEUED, PayoutState.DONE))


def listed(state: str, limit: int) -> list[dict[str, str | int | None]]:
    rows = (Payout.select(Payout, Transaction.kind, Transaction.status, Transaction.amount_in)
            .join(Transaction, on=(Transaction.id == Payout.transaction_id))
            .where(Payout.state == state).order_by(Payout.started_at, Payout.id).limit(limit).objects())
    return [{"transaction_id": str(p.transaction_id), "kind": p.kind, "status": p.status,
             "amount_in": str(p.amount_in) if p.amount_in is not None else None,
             "state": p.state, "attempt": p.attempt, "idempotency_key": p.idempotency_key,
             "started_at": p.started_at.isoformat() if p.started_at else None,
             "finished_at": p.finished_at.isoformat() if p.finished_at else None,
             "status_message": p.status_message} for p in rows]


@click.group()
def payouts() -> None:
    """Payouts whose outcome is unknown (held): list them, resolve them after asking the bank."""


@payouts.command("list")
@click.option("--state", type=click.Choice(STATES), default=PayoutState.HELD.value, show_default=True,
              help="Which payouts: held ones need a person (or the rails' payout_status)")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document")
def list_command(state: str, limit: int, as_json: bool) -> None:
    """Payout records in a state, oldest first, with what happened."""
    from anchor_dramatiq.cli import load

    load()
    rows = listed(state, limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no {state} payouts")
        return
    for row in rows:
        click.echo(f"{row['transaction_id']}  {row['kind']} {row['status']}  {row['amount_in']}  "
                   f"attempt {row['attempt']}  key {row['idempotency_key']}  started {row['started_at']}")
        click.echo(f"    {row['state']}: {row['status_message']}")


@payouts.command()
@click.argument("transaction_id", type=click.UUID)
@click.option("--paid/--not-paid", required=True,
              help="What the bank says about the payout with this transaction's idempotency key")
@click.option("--completed", is_flag=True,
              help="Paid and already settled: go to completed rather than pending_external")
@click.option("--external-id", help="The bank's reference for the payout (external_transaction_id)")
def resolve(transaction_id: uuid.UUID, paid: bool, completed: bool, external_id: str | None) -> None:
    """Resolve a held payout. --paid: the transaction moves on as if the call had returned
    (amounts set as the payout sets them). --not-paid: the payout is called once more."""
    from anchor_dramatiq.cli import load
    from anchor_dramatiq.withdrawals.resolve import NotHeld, resolve_not_paid, resolve_paid

    load()
    try:
        if paid:
            paid_status = TransactionStatus.COMPLETED if completed else TransactionStatus.PENDING_EXTERNAL
            status = resolve_paid(transaction_id, paid_status,
                                  by="operator", external_transaction_id=external_id)
            click.echo(f"{transaction_id}: payout resolved as paid; transaction is {status}")
        else:
            if completed or external_id:
                raise click.UsageError("--completed and --external-id go with --paid")
            resolve_not_paid(transaction_id, by="operator")
            click.echo(f"{transaction_id}: payout released; the next sweep calls the rails once more")
    except NotHeld as exc:
        raise click.ClickException(str(exc)) from None
