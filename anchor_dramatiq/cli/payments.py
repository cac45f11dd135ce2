"""``payments``: incoming payments that need a human (refund or manual match)."""

from __future__ import annotations

import json

import click

from anchor_dramatiq.models import Payment
from anchor_dramatiq.vocabulary import PROBLEM_OUTCOMES, PaymentOutcome

#: The outcome words as click shows them (by value: click matches Enum choices by name).
OUTCOMES = tuple(o.value for o in (*PROBLEM_OUTCOMES, PaymentOutcome.PENDING, PaymentOutcome.MATCHED))


def listed(outcome: str, account: str | None, limit: int) -> list[dict[str, str | None]]:
    query = Payment.select().where(Payment.outcome == outcome)
    if account:
        query = query.where(Payment.account == account)
    rows = query.order_by(Payment.id.desc()).limit(limit)
    return [{"operation_id": p.operation_id, "created_at": p.created_at.isoformat() if p.created_at else None,
             "from": p.from_address, "to": p.to_muxed or p.to_address,
             "asset": p.asset_code if p.asset_code == "native" else f"{p.asset_code}:{p.asset_issuer}",
             "amount": str(p.amount), "memo": p.memo, "memo_type": p.memo_type,
             "transaction_hash": p.transaction_hash, "outcome": p.outcome, "reason": p.reason,
             "transaction_id": str(p.transaction_id) if p.transaction_id else None}
            for p in rows]


@click.command()
@click.option("--outcome", type=click.Choice(OUTCOMES), default=PaymentOutcome.UNMATCHED.value,
              show_default=True,
              help="Which payments: unmatched, ambiguous and rejected ones need a human")
@click.option("--account", help="Only payments to this watched account")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document")
def payments(outcome: str, account: str | None, limit: int, as_json: bool) -> None:
    """Recorded incoming payments by outcome, newest first, with the reason (for refunds)."""
    from anchor_dramatiq.cli import load

    load()
    rows = listed(outcome, account, limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no {outcome} payments")
        return
    for row in rows:
        click.echo(f"{row['operation_id']}  {row['created_at']}  {row['amount']} {row['asset']}  "
                   f"from {row['from']}  memo {row['memo_type']}:{row['memo']}  tx {row['transaction_hash']}")
        click.echo(f"    {row['outcome']}: {row['reason']}")
