"""``payments``: the inbox of incoming payments that need a human, and their refunds."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

import click

from anchor_dramatiq.models import Payment, Refund
from anchor_dramatiq.vocabulary import PROBLEM_OUTCOMES, PaymentOutcome, RefundState

#: The outcome words as click shows them (by value: click matches Enum choices by name).
OUTCOMES = tuple(o.value for o in (*PROBLEM_OUTCOMES, PaymentOutcome.INTERNAL, PaymentOutcome.PENDING,
                                   PaymentOutcome.MATCHED))
#: How long ``payments refund`` looks for evidence of its envelope's fate before handing over.
REFUND_PATIENCE_S = 90.0


def _refund_of(payment: Payment) -> dict[str, str | None] | None:
    refund = Refund.get_or_none(Refund.payment == payment.id)
    if refund is None:
        return None
    return {"id": str(refund.id), "amount": str(refund.amount), "state": refund.state,
            "reason": refund.reason, "stellar_transaction_id": refund.stellar_transaction_id,
            "requested_by": refund.requested_by}


def listed(outcomes: tuple[str, ...], account: str | None, limit: int) -> list[dict]:
    query = Payment.select().where(Payment.outcome.in_(list(outcomes)))
    if account:
        query = query.where(Payment.account == account)
    rows = query.order_by(Payment.id.desc()).limit(limit)
    return [{"operation_id": p.operation_id, "created_at": p.created_at.isoformat() if p.created_at else None,
             "from": p.from_address, "to": p.to_muxed or p.to_address,
             "asset": p.asset_code if p.asset_code == "native" else f"{p.asset_code}:{p.asset_issuer}",
             "amount": str(p.amount), "memo": p.memo, "memo_type": p.memo_type,
             "transaction_hash": p.transaction_hash, "outcome": p.outcome, "reason": p.reason,
             "transaction_id": str(p.transaction_id) if p.transaction_id else None,
             "refund_request": _refund_of(p)}
            for p in rows]


def _show(outcomes: tuple[str, ...], account: str | None, limit: int, as_json: bool) -> None:
    from anchor_dramatiq.cli import load

    load()
    rows = listed(outcomes, account, limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no {' / '.join(outcomes)} payments")
        return
    for row in rows:
        click.echo(f"{row['operation_id']}  {row['created_at']}  {row['amount']} {row['asset']}  "
                   f"from {row['from']}  memo {row['memo_type']}:{row['memo']}  tx {row['transaction_hash']}")
        click.echo(f"    {row['outcome']}: {row['reason']}")
        if row["refund_request"]:
            refund = row["refund_request"]
            click.echo(f"    refund {refund['amount']}: {refund['state']}"
                       f"{' ' + refund['stellar_transaction_id'] if refund['stellar_transaction_id'] else ''}"
                       f"{' (' + refund['reason'] + ')' if refund['reason'] else ''}")


_outcome_option = click.option(
    "--outcome", "outcomes", type=click.Choice(OUTCOMES), multiple=True,
    help="Which payments (repeatable); default: every outcome that needs a human")
_account_option = click.option("--account", help="Only payments to this watched account")
_limit_option = click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
_json_option = click.option("--json", "as_json", is_flag=True, help="One JSON document")


@click.group(invoke_without_command=True)
@_outcome_option
@_account_option
@_limit_option
@_json_option
@click.pass_context
def payments(ctx: click.Context, outcomes: tuple[str, ...], account: str | None, limit: int,
             as_json: bool) -> None:
    """Recorded incoming payments that need a human (`list`, the default), and `refund`."""
    if ctx.invoked_subcommand is None:
        _show(outcomes or tuple(PROBLEM_OUTCOMES), account, limit, as_json)


@payments.command("list")
@_outcome_option
@_account_option
@_limit_option
@_json_option
def list_command(outcomes: tuple[str, ...], account: str | None, limit: int, as_json: bool) -> None:
    """Payments by outcome, newest first, with the reason and any refund."""
    _show(outcomes or tuple(PROBLEM_OUTCOMES), account, limit, as_json)


def _amount(raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise click.BadParameter("a decimal amount such as 5 or 2.5", param_hint="--amount") from None


@payments.command()
@click.argument("operation_id")
@click.option("--amount", help="Refund only this much (default: all of it; a matched overpayment: "
                               "its excess)")
@click.option("--by", default="operator", show_default=True, help="Who asks (kept with the refund)")
def refund(operation_id: str, amount: str | None, by: str) -> None:
    """Send a payment back to its sender, in the asset it came in, exactly once.

    Asking again (or two operators at once) finds the same refund: it is never paid twice.
    Exit status 0 when paid, 1 when it failed (the reason says what to fix; run it again
    after), 3 when its fate is not known yet (run it again later: it settles the same
    envelope).
    """
    from anchor_dramatiq.cli import load
    from anchor_dramatiq.errors import RefundRefused
    from anchor_dramatiq.payments.refund_submit import pay_refund_until_settled
    from anchor_dramatiq.payments.refunds import request_refund

    settings = load("secret_key")
    try:
        row = request_refund(operation_id, _amount(amount), by)
    except RefundRefused as exc:
        raise click.ClickException(str(exc)) from None
    state = pay_refund_until_settled(row.id, settings, REFUND_PATIENCE_S)
    row = Refund.get_by_id(row.id)
    if state == RefundState.PAID:
        click.echo(f"payment {operation_id}: refund {row.amount} paid by Stellar transaction "
                   f"{row.stellar_transaction_id}")
    elif state == RefundState.FAILED:
        click.echo(f"payment {operation_id}: refund {row.amount} failed: {row.reason}", err=True)
        raise SystemExit(1)
    else:
        click.echo(f"payment {operation_id}: refund {row.amount} sent, its fate is not known yet; "
                   "run this again later (it will never be paid twice)", err=True)
        raise SystemExit(3)
