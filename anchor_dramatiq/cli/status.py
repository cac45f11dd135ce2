"""``status``: what the jobs are doing, from the database."""

from __future__ import annotations

import json

import click
from peewee import fn

from anchor_dramatiq.models import Payment, Transaction


def transaction_counts() -> dict[str, dict[str, int]]:
    """Transactions by kind, then status."""
    counts: dict[str, dict[str, int]] = {}
    query = (Transaction.select(Transaction.kind, Transaction.status, fn.COUNT(Transaction.id))
             .group_by(Transaction.kind, Transaction.status).tuples())
    for kind, state, count in query:
        counts.setdefault(kind, {})[state] = count
    return counts


def payment_counts() -> dict[str, int]:
    """Recorded incoming payments by outcome."""
    query = (Payment.select(Payment.outcome, fn.COUNT(Payment.id))
             .group_by(Payment.outcome).tuples())
    return dict(query)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document")
def status(as_json: bool) -> None:
    """Transactions by kind and status, and incoming payments by outcome."""
    from anchor_dramatiq.cli import load

    load()
    report = {"transactions": transaction_counts(), "payments": payment_counts()}
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    click.echo("transactions")
    for kind in sorted(report["transactions"]):
        for state, count in sorted(report["transactions"][kind].items()):
            click.echo(f"  {kind:<20} {state:<32} {count:>8}")
    click.echo("incoming payments")
    for outcome, count in sorted(report["payments"].items()):
        click.echo(f"  {outcome:<20} {count:>8}")
