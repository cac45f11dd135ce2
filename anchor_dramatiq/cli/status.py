"""``status``: what the jobs are doing, from the database, RabbitMQ and Horizon."""

from __future__ import annotations

import json
from typing import Any

import click

from anchor_dramatiq import observe
from anchor_dramatiq.config import Settings
from anchor_dramatiq.db import utcnow
from anchor_dramatiq.payments.records import ledger_of, parse_time
from anchor_dramatiq.queues import Queue

DEFAULT_STUCK_AFTER = 900
HORIZON_STATUS_TIMEOUT = 5.0


def queue_names() -> list[str]:
    """Every queue an actor is declared on."""
    return sorted(Queue)


def queue_depths(broker_url: str, names: list[str]) -> dict[str, dict[str, int | None]]:
    """Ready messages in each queue, its delay queue and its dead letters, plus consumers.

    Read with passive declares, which never create a queue. Delayed messages a worker has
    already fetched (they wait in its memory until due) are not counted by RabbitMQ.
    """
    import pika
    from pika.exceptions import ChannelClosedByBroker

    from anchor_dramatiq.broker import broker_url_with_defaults

    connection = pika.BlockingConnection(pika.URLParameters(broker_url_with_defaults(broker_url)))
    try:
        channel = connection.channel()
        depths: dict[str, dict[str, int | None]] = {}
        for name in names:
            row: dict[str, int | None] = {}
            for key, queue in (("ready", name), ("delayed", f"{name}.DQ"), ("dead", f"{name}.XQ")):
                try:
                    method = channel.queue_declare(queue=queue, passive=True).method
                except ChannelClosedByBroker:  # 404: not declared yet (no worker has started)
                    row[key] = None
                    channel = connection.channel()
                    continue
                row[key] = method.message_count
                if key == "ready":
                    row["consumers"] = method.consumer_count
            depths[name] = row
        return depths
    finally:
        connection.close()


def horizon_latest_ledger(settings: Settings) -> int | None:
    import requests

    try:
        response = requests.get(settings.horizon_url.rstrip("/") + "/",
                                timeout=min(settings.horizon_timeout, HORIZON_STATUS_TIMEOUT))
        response.raise_for_status()
        return int(response.json()["history_latest_ledger"])
    except (requests.RequestException, ValueError, KeyError):
        return None


def first_unread(settings: Settings, account: str, paging_token: str) -> list[dict[str, Any]] | None:
    """The first record of ``account``'s payments past its cursor (what the streamer reads
    next) in a list, empty when there is none (caught up); None when Horizon did not answer."""
    import requests

    from anchor_dramatiq.paging import as_horizon_cursor

    try:
        params = {"cursor": as_horizon_cursor(paging_token), "order": "asc", "limit": "1"}
        response = requests.get(f"{settings.horizon_url.rstrip('/')}/accounts/{account}/payments",
                                params=params,
                                timeout=min(settings.horizon_timeout, HORIZON_STATUS_TIMEOUT))
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()["_embedded"]["records"]
    except (requests.RequestException, ValueError, KeyError):
        return None
    return records[:1]


def stream_lag(settings: Settings, row: dict[str, Any], latest: int | None
               ) -> tuple[int | None, float | None]:
    """How far ``row``'s stream is behind: ledgers from the first record it has not recorded to
    the latest closed one (counting both) and seconds since that record's ledger closed; 0
    when nothing past the cursor exists, however long ago the account's last payment was."""
    if latest is None:
        return None, None
    unread = first_unread(settings, row["account"], row["paging_token"])
    if unread is None:
        return None, None
    if not unread:
        return 0, 0.0
    closed = parse_time(unread[0].get("created_at"))
    age = max((utcnow() - closed).total_seconds(), 0.0) if closed is not None else None
    return max(latest - ledger_of(unread[0]["paging_token"]) + 1, 1), age


def streams(settings: Settings, ask_horizon: bool) -> list[dict[str, Any]]:
    """Each watched account's cursor, last event age, and how far it is behind Horizon."""
    from anchor_dramatiq.streaming.cursor import stream_status

    rows = stream_status()
    latest = horizon_latest_ledger(settings) if ask_horizon and rows else None
    for row in rows:
        row["lag_ledgers"], row["lag_seconds"] = stream_lag(settings, row, latest)
    return rows


def report(settings: Settings, stuck_after: float, ask_horizon: bool) -> dict[str, Any]:
    queues: dict[str, Any] | None = None
    queue_error = None
    if settings.broker_url:
        try:
            queues = queue_depths(settings.broker_url, queue_names())
        except Exception as exc:  # the rest of the report is still worth printing
            from anchor_dramatiq.logs import redact

            queue_error = redact(f"{type(exc).__name__}: {exc}")
    return {
        "transactions": observe.transaction_counts(),
        "oldest_open_transactions_seconds": observe.oldest_open_transactions(),
        "submissions": observe.submission_counts(),
        "submission_latency_last_hour": observe.submission_latency(),
        "deposit_pipeline_last_hour": observe.deposit_pipeline(),
        "payments": observe.payment_counts(),
        "queues": queues,
        "queue_error": queue_error,
        "streams": streams(settings, ask_horizon),
        "last_tick_seconds": observe.last_ticks(),
        "stuck_after_seconds": stuck_after,
        "stuck": observe.stuck_items(stuck_after),
        "problem_payments": observe.problem_payments(),
        "payment_inbox": observe.inbox(),
        "held_payouts": observe.held_payouts(),
        "held_payout_count": observe.held_payout_count(),
        "invalid_seed_assets": invalid_seed_assets(settings),
    }


def invalid_seed_assets(settings: Settings) -> dict[str, str] | None:
    """Assets ("CODE:ISSUER") whose stored seed cannot be used, with why; None without the key."""
    seeds = observe.asset_seeds(settings.secret_key)
    return None if seeds is None else {asset: why for asset, why in seeds.items() if why is not None}


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _count(value: int | None) -> str:
    return "absent" if value is None else str(value)


def print_report(data: dict[str, Any]) -> None:
    echo = click.echo
    echo("transactions (kind, status, count, oldest)")
    for kind in sorted(data["transactions"]):
        oldest = data["oldest_open_transactions_seconds"].get(kind, {})
        for state, count in sorted(data["transactions"][kind].items()):
            echo(f"  {kind:<12} {state:<32} {count:>8}  {_age(oldest.get(state)) if state in oldest else ''}")
    echo("stellar submissions (state, count)")
    for state, count in sorted(data["submissions"].items()):
        echo(f"  {state:<12} {count:>8}")
    latency = data["submission_latency_last_hour"]
    if latency["count"]:
        shown = ", ".join(f"p{float(q) * 100:g} {s:.1f}s" for q, s in latency["quantiles"].items())
        echo(f"  settled in the last hour: {latency['count']} ({shown})")
    pipeline = data["deposit_pipeline_last_hour"]
    echo(f"deposit envelopes landed in the last hour ({pipeline['channel_accounts']} channel accounts)")
    if pipeline["envelopes"]:
        used = "-" if pipeline["utilisation"] is None else f"{pipeline['utilisation']:.0%}"
        fee = pipeline["fee_stroops_per_deposit"]
        echo(f"  {pipeline['envelopes']} envelopes in {pipeline['ledgers']} ledgers: "
             f"{pipeline['deposits_per_ledger']:.1f} deposits per ledger, channel utilisation {used} "
             f"(transactions per channel per ledger), fee per deposit "
             f"{'-' if fee is None else f'{fee:.0f} stroops'}")
    echo("incoming payments (outcome, count)")
    for outcome, count in sorted(data["payments"].items()):
        echo(f"  {outcome:<12} {count:>8}")
    echo("queues (ready, delayed, dead letters, consumers)")
    if data["queue_error"]:
        echo(f"  unavailable: {data['queue_error']}")
    elif data["queues"] is None:
        echo("  in-process broker (ANCHOR_BROKER_URL unset)")
    else:
        for name, row in sorted(data["queues"].items()):
            echo(f"  {name:<20} {_count(row['ready']):>8} {_count(row['delayed']):>8} "
                 f"{_count(row['dead']):>8} {_count(row.get('consumers')):>8}")
    echo("streams (account, cursor ledger, last event, lag: ledgers and age of the first unrecorded record)")
    for row in data["streams"]:
        lag = "-" if row["lag_ledgers"] is None else str(row["lag_ledgers"])
        age, behind = _age(row["last_event_age_seconds"]), _age(row["lag_seconds"])
        echo(f"  {row['account']} {row['last_ledger'] or '-':>10} {age:>6} {lag:>6} {behind:>6}")
        if row["gap"]:  # ledgers its RPC node no longer keeps: being filled, or held
            echo(f"    GAP {row['gap']}")
    echo("periodic ticks (actor, last claimed)")
    for actor, age in sorted(data["last_tick_seconds"].items()):
        echo(f"  {actor:<40} {_age(age)} ago")
    stuck = data["stuck"]
    echo(f"stuck longer than {_age(data['stuck_after_seconds'])}: {len(stuck['transactions'])} transactions, "
         f"{len(stuck['submissions'])} submissions, {len(stuck['payments'])} payments")
    for t in stuck["transactions"]:
        echo(f"  transaction {t['id']} {t['kind']} {t['status']} started {_age(t['age_seconds'])} ago")
    for s in stuck["submissions"]:
        echo(f"  submission {s['hash']} {s['state']} {s['purpose']} stored {_age(s['age_seconds'])} ago")
    for p in stuck["payments"]:
        echo(f"  payment {p['operation_id']} to {p['account']} recorded {_age(p['age_seconds'])} ago")
    invalid = data["invalid_seed_assets"]
    if invalid is None:
        echo("assets with an invalid seed: not checked (ANCHOR_SECRET_KEY unset)")
    else:
        echo(f"assets with an invalid seed (not streamed, not paid from): {len(invalid)}")
        for asset, why in sorted(invalid.items()):
            echo(f"  {asset}: {why}")
    echo("payments needing a human (outcome, asset, count, value, oldest); "
         "`anchor-dramatiq payments list`, `payments refund ID`")
    for row in data["payment_inbox"]:
        echo(f"  {row['outcome']:<10} {row['asset']:<20} {row['count']:>6} {row['value']:>16} "
             f"{_age(row['oldest_age_seconds'])}")
    echo(f"the newest of them ({len(data['problem_payments'])})")
    for p in data["problem_payments"]:
        echo(f"  {p['operation_id']} {p['outcome']:<10} {p['amount']} {p['asset']} memo={p['memo']!r} "
             f"from {p['from']}: {p['reason']}")
    echo(f"held payouts: {data['held_payout_count']} (resolve with `anchor-dramatiq payouts resolve`)")
    for p in data["held_payouts"]:
        echo(f"  {p['transaction_id']} attempt {p['attempt']} started {p['started_at']}: "
             f"{p['status_message']}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document")
@click.option("--stuck-after", type=click.FloatRange(min=0), default=DEFAULT_STUCK_AFTER, show_default=True,
              help="Seconds after which waiting work is listed as stuck")
@click.option("--horizon/--no-horizon", default=True, show_default=True,
              help="Ask Horizon for the latest ledger to show stream lag")
def status(as_json: bool, stuck_after: float, horizon: bool) -> None:
    """Transactions, submissions, payments, queue depths, streams, stuck and unmatched items."""
    from anchor_dramatiq.cli import load

    settings = load()
    data = report(settings, stuck_after, horizon)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        print_report(data)
