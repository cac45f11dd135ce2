"""Bad input gets Horizon's problem response: never a crash, never a 500 with a traceback."""

from __future__ import annotations

import base64

import pytest
import requests
from stellar_sdk import Keypair

from .helpers import build, pay

PROBLEM = "application/problem+json; charset=utf-8"


def _problem(resp: requests.Response, status: int, slug: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == PROBLEM
    body = resp.json()
    assert body["type"] == f"https://stellar.org/horizon-errors/{slug}"
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in resp.text
    return body


@pytest.mark.parametrize("tx", ["not base64!", base64.b64encode(b"\x00\x00\x00\x02junk").decode(),
                                "AAAA", ""])
def test_malformed_envelopes(sim, tx):
    for path in ("/transactions", "/transactions_async"):
        resp = requests.post(sim.url + path, data={"tx": tx}, timeout=5)
        body = _problem(resp, 400, "transaction_malformed")
        assert body["extras"]["envelope_xdr"] == tx


def test_truncated_real_envelope(sim, server, funded):
    a, b = funded(), funded()
    xdr = build(server, sim.passphrase, a, pay(b.public_key, "1")).to_xdr()
    resp = requests.post(sim.url + "/transactions", data={"tx": xdr[:-12]}, timeout=5)
    _problem(resp, 400, "transaction_malformed")


def test_unsupported_media_type(sim):
    resp = requests.post(sim.url + "/transactions", json={"tx": "x"}, timeout=5)
    _problem(resp, 415, "unsupported_media_type")


def test_wrong_passphrase_is_bad_auth(sim, server, funded):
    a, b = funded(), funded()
    xdr = build(server, "Public Global Stellar Network ; September 2015", a,
                pay(b.public_key, "1")).to_xdr()
    body = _problem(requests.post(sim.url + "/transactions", data={"tx": xdr}, timeout=5), 400,
                    "transaction_failed")
    assert body["extras"]["result_codes"] == {"transaction": "tx_bad_auth"}


def test_unknown_source_account(sim, server, funded):
    a, b = funded(), funded()
    tx = build(server, sim.passphrase, a, pay(b.public_key, "1"))
    ghost = Keypair.random()
    tx.transaction.source = type(tx.transaction.source)(ghost.public_key)
    tx.signatures = []
    tx.sign(ghost)
    body = _problem(requests.post(sim.url + "/transactions", data={"tx": tx.to_xdr()},
                                  timeout=5), 400, "transaction_failed")
    assert body["extras"]["result_codes"] == {"transaction": "tx_no_source_account"}


@pytest.mark.parametrize("path", [
    "/accounts/{unknown}", "/accounts/{unknown}/payments", "/accounts/{unknown}/transactions",
    "/transactions/" + "ab" * 32, "/operations/12345", "/ledgers/99999", "/no/such/route",
    "/claimable_balances/" + "00" * 36,
])
def test_not_found(sim, path):
    url = sim.url + path.format(unknown=Keypair.random().public_key)
    _problem(requests.get(url, timeout=5), 404, "not_found")


@pytest.mark.parametrize("query, field", [
    ("cursor=abc", "cursor"), ("cursor=-5", "cursor"), ("limit=0", "limit"),
    ("limit=201", "limit"), ("limit=x", "limit"), ("order=sideways", "order"),
    ("join=ledgers", "join"), ("include_failed=maybe", "include_failed"),
])
def test_bad_paging_parameters(sim, funded, query, field):
    kp = funded()
    for path in (f"/accounts/{kp.public_key}/payments", "/payments", "/transactions", "/ledgers"):
        body = _problem(requests.get(f"{sim.url}{path}?{query}", timeout=5), 400, "bad_request")
        assert body["extras"]["invalid_field"] == field


@pytest.mark.parametrize("path, field", [
    ("/accounts/GNOTANACCOUNT", "account_id"), ("/accounts/MAAAA/payments", "account_id"),
    ("/transactions/xyz", "tx_id"), ("/operations/abc", "id"), ("/friendbot?addr=nope", "addr"),
    ("/claimable_balances?cursor=bad", "cursor"), ("/claimable_balances/zz", "id"),
])
def test_bad_path_values(sim, path, field):
    body = _problem(requests.get(sim.url + path, timeout=5), 400, "bad_request")
    assert body["extras"]["invalid_field"] == field


def test_method_not_allowed_and_stream_of_single_resource(sim, funded):
    kp = funded()
    _problem(requests.delete(f"{sim.url}/accounts/{kp.public_key}", timeout=5), 405,
             "method_not_allowed")
    resp = requests.get(f"{sim.url}/accounts/{kp.public_key}",
                        headers={"Accept": "text/event-stream"}, timeout=5)
    _problem(resp, 406, "not_acceptable")


def test_friendbot_twice(sim):
    kp = Keypair.random()
    first = requests.get(f"{sim.url}/friendbot", params={"addr": kp.public_key}, timeout=5)
    assert first.status_code == 200 and first.json()["successful"] is True
    again = requests.get(f"{sim.url}/friendbot", params={"addr": kp.public_key}, timeout=5)
    _problem(again, 400, "bad_request")
    with pytest.raises(ValueError):
        sim.friendbot(kp.public_key)
