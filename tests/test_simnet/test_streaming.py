"""SSE streaming as Horizon does it, consumed by stellar-sdk's stream() across reconnects."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import requests
from stellar_sdk import Asset, Keypair, Server, ServerAsync, TransactionBuilder
from stellar_sdk.client.aiohttp_client import AiohttpClient
from stellar_sdk.exceptions import StreamClientError

from simnet import Simnet

from .helpers import build, pay

pytestmark = pytest.mark.timeout(60)


def _send_payments(sim, server, source, dest, amounts):
    def run():
        for amount in amounts:
            server.submit_transaction(build(server, sim.passphrase, source, pay(dest, amount),
                                            memo=f"m{amount}"))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _collect(stream, count):
    events = []
    for event in stream:
        events.append(event)
        if len(events) == count:
            break
    return events


def test_stream_across_byebye_reconnects(sim, server, funded):
    a, b = funded(), funded()
    amounts = ["1", "2", "3", "4", "5"]
    stream = server.payments().for_account(b.public_key).join("transactions").cursor(
        "now").limit(2).stream()
    sender = _send_payments(sim, Server(sim.url), a, b.public_key, amounts)
    events = _collect(stream, len(amounts))
    sender.join()
    assert [e["amount"] for e in events] == [f"{x}.0000000" for x in amounts]
    assert [e["transaction"]["memo"] for e in events] == [f"m{x}" for x in amounts]
    assert all(e["id"] == e["paging_token"] for e in events)
    assert [int(e["id"]) for e in events] == sorted(int(e["id"]) for e in events)


def test_stream_survives_dropped_connection(sim, server, funded):
    a, b = funded(), funded()
    sim.add_fault("stream_drop", after_events=1, count=1)
    stream = server.payments().for_account(b.public_key).cursor("now").stream()
    sender = _send_payments(sim, Server(sim.url), a, b.public_key, ["1", "2", "3"])
    events = _collect(stream, 3)
    sender.join()
    assert [e["amount"] for e in events] == ["1.0000000", "2.0000000", "3.0000000"]
    assert sim.faults() == []


def test_async_stream_reconnects_with_aiohttp(sim, funded):
    a, b = funded(), funded()

    async def run():
        async with ServerAsync(sim.url, client=AiohttpClient()) as srv:
            events = []
            stream = srv.payments().for_account(b.public_key).join("transactions").cursor(
                "now").limit(1).stream()
            sender = _send_payments(sim, Server(sim.url), a, b.public_key, ["7", "8"])
            async for event in stream:
                events.append(event)
                if len(events) == 2:
                    break
            await asyncio.get_running_loop().run_in_executor(None, sender.join)
            return events

    events = asyncio.run(run())
    assert [e["amount"] for e in events] == ["7.0000000", "8.0000000"]
    assert events[0]["transaction"]["memo"] == "m7"


def test_stream_of_unknown_account_is_a_404(sim, server):
    stream = server.payments().for_account(Keypair.random().public_key).cursor("now").stream()
    with pytest.raises(StreamClientError):
        next(stream)
    resp = requests.get(f"{sim.url}/accounts/{Keypair.random().public_key}/payments",
                        headers={"Accept": "text/event-stream"}, timeout=5)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"] == "application/problem+json; charset=utf-8"


def _raw(url, headers=None, timeout=5):
    resp = requests.get(url, headers={"Accept": "text/event-stream", **(headers or {})},
                        stream=True, timeout=timeout)
    return resp


def test_wire_format_limit_and_last_event_id(sim, server, funded):
    a, b = funded(), funded()
    for amount in ("1", "2", "3"):
        server.submit_transaction(build(server, sim.passphrase, a, pay(b.public_key, amount)))
    url = f"{sim.url}/accounts/{b.public_key}/payments"
    resp = _raw(url + "?limit=2")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-cache"
    text = resp.text
    blocks = text.split("\n\n")
    assert blocks[0] == 'retry: 1000\nevent: open\ndata: "hello"'
    assert blocks[1].startswith("id: ") and "\ndata: {" in blocks[1]
    assert "event:" not in blocks[1]
    assert blocks[3] == 'retry: 10\nevent: close\ndata: "byebye"'
    ids = [b.split("\n")[0][4:] for b in blocks[1:3]]
    page = server.payments().for_account(b.public_key).call()["_embedded"]["records"]
    assert ids == [r["paging_token"] for r in page[:2]]
    # Last-Event-ID wins over cursor: resume after the second payment's token.
    resumed = _raw(url + "?limit=1&cursor=0", {"Last-Event-ID": ids[1]}).text
    assert f"id: {page[2]['paging_token']}\n" in resumed


def test_idle_stream_closes_with_byebye_after_timeout():
    with Simnet(ledger_interval=0.1, stream_timeout=0.5) as sim:
        kp = Keypair.random()
        sim.friendbot(kp.public_key)
        started = time.monotonic()
        text = _raw(f"{sim.url}/accounts/{kp.public_key}/payments?cursor=now").text
        assert 0.4 < time.monotonic() - started < 3
        assert text == ('retry: 1000\nevent: open\ndata: "hello"\n\n'
                        'retry: 10\nevent: close\ndata: "byebye"\n\n')


def test_stalled_stream_sends_nothing(sim, funded):
    b = funded()
    sim.add_fault("stream_stall", count=1, match=b.public_key)
    resp = _raw(f"{sim.url}/accounts/{b.public_key}/payments?cursor=0", timeout=(2, 0.7))
    chunks = resp.iter_content(chunk_size=None)
    assert b"hello" in next(chunks)
    with pytest.raises(requests.exceptions.ConnectionError):
        next(chunks)  # the create_account payment exists, but the stalled stream never sends it


def test_transactions_and_ledgers_stream(sim, funded):
    kp = funded()
    text = _raw(f"{sim.url}/accounts/{kp.public_key}/transactions?cursor=0&limit=1").text
    assert '"successful": true' in text or '"successful":true' in text
    text = _raw(f"{sim.url}/ledgers?cursor=now&limit=1").text
    assert '"base_fee_in_stroops": 100' in text


def test_cursor_now_skips_history(sim, server, funded):
    a, b = funded(), funded()
    server.submit_transaction(build(server, sim.passphrase, a, pay(b.public_key, "1")))
    builder = TransactionBuilder(server.load_account(a.public_key), sim.passphrase, 100)
    tx = builder.append_payment_op(b.public_key, Asset.native(), "9").set_timeout(30).build()
    tx.sign(a)
    stream = server.payments().for_account(b.public_key).cursor("now").stream()
    threading.Timer(0.3, lambda: Server(sim.url).submit_transaction(tx)).start()
    assert next(stream)["amount"] == "9.0000000"
