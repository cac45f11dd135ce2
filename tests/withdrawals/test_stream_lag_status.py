"""``anchor-dramatiq status`` shows how far each stream is behind: the ledgers and age of the
first record past its cursor, and no lag for a stream that has read everything, however long
ago its account's last payment was."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from stellar_sdk import Keypair, Server, TextMemo
from support.chain import Chain

from anchor_dramatiq import config
from anchor_dramatiq.cli import main
from anchor_dramatiq.models import Cursor
from anchor_dramatiq.payments.records import ledger_of
from simnet import Simnet

pytestmark = pytest.mark.timeout(120)


def stream_row() -> dict:
    result = CliRunner().invoke(main, ["status", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)["streams"]
    return row


def test_status_lag_is_the_first_unrecorded_record(sim: Simnet, db: str) -> None:
    config.configure(config.get_settings().replace(horizon_url=sim.url))
    chain = Chain(sim)
    chain.register()
    for n in range(3):
        chain.pay("1", TextMemo(f"lag-{n}"))
    records = (Server(sim.url).payments().for_account(chain.account).order(desc=False).limit(200)
               .call()["_embedded"]["records"])
    first, second, last = [r for r in records if r["type"] == "payment" and r["to"] == chain.account]
    Cursor.create(account=chain.account, paging_token=first["paging_token"],
                  last_ledger=ledger_of(first["paging_token"]))

    behind = stream_row()
    latest = int(Server(sim.url).root().call()["history_latest_ledger"])
    assert 1 <= behind["lag_ledgers"] <= latest - ledger_of(second["paging_token"]) + 1
    assert behind["lag_ledgers"] >= ledger_of(last["paging_token"]) - ledger_of(second["paging_token"]) + 1
    assert behind["lag_seconds"] >= 0

    Cursor.update(paging_token=last["paging_token"], last_ledger=ledger_of(last["paging_token"])).execute()
    time.sleep(0.5)  # ledgers close with nothing for this account: read everything, so no lag
    assert int(Server(sim.url).root().call()["history_latest_ledger"]) > ledger_of(last["paging_token"])
    caught_up = stream_row()
    assert (caught_up["lag_ledgers"], caught_up["lag_seconds"]) == (0, 0.0)

    text = CliRunner().invoke(main, ["status"]).output
    assert f"{chain.account} {ledger_of(last['paging_token']):>10}" in text


def test_status_lag_unknown_without_horizon(db: str) -> None:
    config.configure(config.get_settings().replace(horizon_url="http://127.0.0.1:9"))
    Cursor.create(account=Keypair.random().public_key, paging_token=str(5 << 32), last_ledger=5)
    row = stream_row()
    assert (row["lag_ledgers"], row["lag_seconds"]) == (None, None)
