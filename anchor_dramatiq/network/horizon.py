"""The network interface over Horizon: today's behaviour, each answer keeping ``Latest-Ledger``.

Reads go through :func:`anchor_dramatiq.stellar.answers.read` (the answering node's
``Latest-Ledger`` header kept), submissions to ``/transactions_async`` (core's admission, no
wait), incoming payments from ``/accounts/{a}/payments?join=transactions`` (one cursor per
account) turned into rows by :func:`anchor_dramatiq.payments.records.payment_fields`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from stellar_sdk import Server
from stellar_sdk.client.requests_client import RequestsClient
from stellar_sdk.exceptions import BaseRequestError, ConnectionError

from anchor_dramatiq.network.answers import (
    AccountAnswer,
    AccountMissing,
    AccountState,
    Admission,
    Applied,
    Fate,
    FeeBid,
    LedgerHead,
    NoReply,
    NotFound,
    PaymentPage,
    PaymentsAnswer,
    Signer,
    SubmitAnswer,
    Trustline,
)
from anchor_dramatiq.network.common import capped_bid, epoch, refusal_codes
from anchor_dramatiq.network.interface import AssetKey
from anchor_dramatiq.paging import as_horizon_cursor
from anchor_dramatiq.payments.records import is_incoming, needs_transaction, payment_fields
from anchor_dramatiq.stellar.answers import Answer, read
from anchor_dramatiq.vocabulary import NetworkApi

LOOKUP_CONCURRENCY = 8  # Horizon has no batch read: parallel GETs per call
PAGE_LIMIT = 200  # Horizon's maximum page
# Core's answers to POST /transactions_async, as Horizon relays them in ``tx_status``.
ADMISSIONS = {"PENDING": Admission.ACCEPTED, "DUPLICATE": Admission.DUPLICATE,
              "TRY_AGAIN_LATER": Admission.TRY_AGAIN_LATER}
ASYNC_ERROR = "ERROR"


class HorizonNetwork:
    """One Horizon (or simnet) behind the :class:`~anchor_dramatiq.network.interface.Network`
    interface."""

    api = NetworkApi.HORIZON
    shared_cursor = False

    def __init__(self, horizon_url: str, timeout: float = 30.0) -> None:
        client = RequestsClient(request_timeout=int(max(1, timeout)), post_timeout=timeout)
        self.server = Server(horizon_url, client=client)

    # ------------------------------------------------------------------ ledgers and accounts

    def latest_ledger(self) -> LedgerHead | NoReply:
        answer = read(self.server, "/ledgers?order=desc&limit=1")
        records = ((answer.body or {}).get("_embedded") or {}).get("records") if answer.found else None
        if not records:
            return NoReply(f"latest ledger: {answer.summary}")
        return LedgerHead(int(records[0]["sequence"]), epoch(records[0]["closed_at"]))

    def accounts(self, account_ids: Sequence[str], assets: Sequence[AssetKey] = ()
                 ) -> dict[str, AccountAnswer]:
        distinct = list(dict.fromkeys(account_ids))
        workers = min(LOOKUP_CONCURRENCY, max(1, len(distinct)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            answers = list(pool.map(lambda a: read(self.server, f"/accounts/{a}"), distinct))
        return {account: _account(account, answer, assets)
                for account, answer in zip(distinct, answers, strict=True)}

    def fee_bid(self, cap: int) -> FeeBid | NoReply:
        answer = read(self.server, "/fee_stats")
        if not answer.found:
            return NoReply(f"fee stats: {answer.summary}")
        body = answer.body or {}
        wanted = max(int(body["last_ledger_base_fee"]), int(body["fee_charged"]["p90"]))
        return FeeBid(capped_bid(wanted, cap), answer.latest_ledger)

    # ------------------------------------------------------------------ submitting and settling

    def submit(self, envelope_xdr: str) -> SubmitAnswer | NoReply:
        url = self.server.horizon_url.rstrip("/") + "/transactions_async"
        try:
            response = self.server._client.post(url, data={"tx": envelope_xdr})
            body = response.json() if response.text else {}
        except (BaseRequestError, ConnectionError, ValueError) as exc:
            return NoReply(f"submit: {type(exc).__name__}")
        status = body.get("tx_status") if isinstance(body, dict) else None
        tx_hash = body.get("hash", "") if isinstance(body, dict) else ""
        if status in ADMISSIONS:
            return SubmitAnswer(ADMISSIONS[status], tx_hash, None)
        if status == ASYNC_ERROR and body.get("error_result_xdr"):
            tx_code, op_codes = refusal_codes(body["error_result_xdr"])
            return SubmitAnswer(Admission.REFUSED, tx_hash, None, tx_code, op_codes,
                                body["error_result_xdr"])
        # A rate limiter, a proxy or a 5xx answered, not core: it may have been admitted.
        return NoReply(f"submit: {response.status_code} {status or ''}".strip())

    def fate(self, tx_hash: str) -> Fate:
        answer = read(self.server, f"/transactions/{tx_hash}")
        if answer.found:
            body = answer.body or {}
            return Applied(body.get("hash", tx_hash), int(body["ledger"]),
                           bool(body.get("successful", True)), body.get("result_xdr"),
                           str(body["paging_token"]), answer.latest_ledger,
                           body.get("envelope_xdr"))
        if answer.missing and answer.latest_ledger is not None:
            return NotFound(tx_hash, answer.latest_ledger)
        return NoReply(f"transaction {tx_hash}: {answer.summary}")

    def history_range(self) -> tuple[int, int] | NoReply:
        """The ledgers whose history this Horizon holds (``history_elder_ledger`` ..
        ``history_latest_ledger``): a gap is filled from it only when it holds every ledger."""
        answer = read(self.server, "/")
        body = answer.body or {}
        if not answer.found or "history_elder_ledger" not in body:
            return NoReply(f"history range: {answer.summary}")
        return int(body["history_elder_ledger"]), int(body["history_latest_ledger"])

    # ------------------------------------------------------------------ incoming payments

    def incoming(self, account_ids: Sequence[str], cursor: str | None, limit: int = PAGE_LIMIT
                 ) -> PaymentsAnswer:
        """One account's payments (Horizon keeps a cursor per account): pass exactly one."""
        if len(account_ids) != 1:
            raise ValueError("Horizon pages payments per account: pass one account")
        account = account_ids[0]
        if cursor is None:
            head = self.latest_ledger()
            if isinstance(head, NoReply):
                return head
            cursor = str((head.sequence + 1) << 32)  # the first operation after that ledger
        query = urlencode({"join": "transactions", "cursor": as_horizon_cursor(cursor), "order": "asc",
                           "limit": min(limit, PAGE_LIMIT)})
        answer = read(self.server, f"/accounts/{account}/payments?{query}")
        if not answer.found:
            return NoReply(f"payments of {account}: {answer.summary}")
        records = ((answer.body or {}).get("_embedded") or {}).get("records") or []
        rows = []
        for record in records:
            if not is_incoming(record, account):
                continue
            if needs_transaction(record):
                joined = self._transaction(record["transaction_hash"])
                if joined is None:
                    return NoReply(f"transaction {record['transaction_hash']} of a payment")
                record = {**record, "transaction": joined}
            rows.append(payment_fields(record, account))
        next_cursor = records[-1]["paging_token"] if records else cursor
        return PaymentPage(rows, next_cursor, answer.latest_ledger)

    def _transaction(self, tx_hash: str) -> dict[str, Any] | None:
        answer = read(self.server, f"/transactions/{tx_hash}")
        return answer.body if answer.found else None

    def close(self) -> None:
        self.server.close()


def _account(account_id: str, answer: Answer, assets: Sequence[AssetKey]) -> AccountAnswer:
    if answer.missing and answer.latest_ledger is not None:
        return AccountMissing(account_id, answer.latest_ledger)
    if not answer.found:
        return NoReply(f"account {account_id}: {answer.summary}")
    body = answer.body or {}
    wanted = set(assets)
    trustlines = []
    native = Decimal(0)
    for balance in body.get("balances", []):
        if balance.get("asset_type") == "native":
            native = Decimal(balance["balance"])
        elif (balance.get("asset_code"), balance.get("asset_issuer")) in wanted:
            trustlines.append(Trustline(
                balance["asset_code"], balance["asset_issuer"], Decimal(balance["balance"]),
                Decimal(balance["limit"]), balance.get("is_authorized", True) is not False,
                bool(balance.get("is_authorized_to_maintain_liabilities", False))))
    thresholds = body.get("thresholds") or {}
    master = next((s["weight"] for s in body.get("signers", []) if s["key"] == account_id), 0)
    signers = tuple(Signer(s["key"], int(s["weight"])) for s in body.get("signers", [])
                    if s["key"] != account_id)
    sequence_ledger = body.get("sequence_ledger")
    return AccountState(
        account_id, int(body["sequence"]), native,
        (int(master), int(thresholds.get("low_threshold", 0)),
         int(thresholds.get("med_threshold", 0)), int(thresholds.get("high_threshold", 0))),
        signers, tuple(trustlines), int(body.get("last_modified_ledger", 0)),
        int(sequence_ledger) if sequence_ledger is not None else None, answer.latest_ledger)
