"""The network interface over Horizon: today's behaviour, each answer keeping ``Latest-Ledger``.

Reads go through :func:`read`, which keeps the answering node's ``Latest-Ledger`` header: a
money decision may rest on "Horizon does not know this" only when the answer says how far the
node that gave it had ingested (a 404 from a load balancer with no ready backend, a 429 from
a rate limiter, a 5xx or a timeout carry no such header and prove nothing). Submissions go to
``/transactions_async`` (core's admission, no wait) or ``/transactions`` (wait for the
ledger), incoming payments from ``/accounts/{a}/payments?join=transactions`` (one cursor per
account) turned into rows by :func:`anchor_dramatiq.payments.records.payment_fields`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from stellar_sdk import Server
from stellar_sdk.client.requests_client import RequestsClient
from stellar_sdk.exceptions import BadRequestError, BaseRequestError, ConnectionError

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
    Pace,
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
from anchor_dramatiq.vocabulary import NetworkApi

LOOKUP_CONCURRENCY = 8  # Horizon has no batch read: parallel GETs per call
PAGE_LIMIT = 200  # Horizon's maximum page
# Core's answers to POST /transactions_async, as Horizon relays them in ``tx_status``.
ADMISSIONS = {"PENDING": Admission.ACCEPTED, "DUPLICATE": Admission.DUPLICATE,
              "TRY_AGAIN_LATER": Admission.TRY_AGAIN_LATER}
ASYNC_ERROR = "ERROR"
CLOSE_TIME_SAMPLE = 10  # ledgers whose closes give the pace
LATEST_LEDGER = "latest-ledger"
FEE_BUMP_RESULTS = ("tx_fee_bump_inner_failed", "tx_fee_bump_inner_success")


@dataclass(frozen=True)
class Answer:
    """One GET: ``status`` None when no HTTP answer came at all."""

    status: int | None
    body: dict[str, Any] | None
    latest_ledger: int | None
    summary: str

    @property
    def found(self) -> bool:
        return self.status == 200 and self.body is not None

    @property
    def missing(self) -> bool:
        """Horizon itself (a node that says how far it has ingested) does not know it."""
        return self.status == 404 and self.latest_ledger is not None


def read(server: Server, path: str) -> Answer:
    """GET ``path`` through the server's own HTTP client (same session, timeouts, headers).

    stellar-sdk's call builders drop the response headers, so the client is used directly.
    """
    url = server.horizon_url.rstrip("/") + path
    try:
        response = server._client.get(url)
    except (ConnectionError, BaseRequestError) as exc:
        return Answer(None, None, None, f"no answer: {type(exc).__name__}")
    latest = next((value for name, value in response.headers.items()
                   if name.lower() == LATEST_LEDGER), None)
    try:
        body = response.json()
    except ValueError:
        body = None
    title = body.get("title") if isinstance(body, dict) else None
    return Answer(response.status_code, body if isinstance(body, dict) else None,
                  int(latest) if latest and str(latest).isdigit() else None,
                  f"{response.status_code} {title or ''}".strip())


class HorizonNetwork:
    """One Horizon (or simnet) behind the :class:`~anchor_dramatiq.network.interface.Network`
    interface."""

    api = NetworkApi.HORIZON

    def __init__(self, horizon_url: str, timeout: float = 30.0) -> None:
        # No hidden retries (stellar-sdk retries a 504 POST by default): a submission's fate
        # is settled by its hash instead. requests takes the float timeout as it is.
        client = RequestsClient(num_retries=0, request_timeout=timeout,  # type: ignore[arg-type]
                                post_timeout=timeout)
        self.server = Server(horizon_url, client=client)
        self.endpoint = horizon_url

    # ------------------------------------------------------------------ ledgers and accounts

    def latest_ledger(self) -> LedgerHead | NoReply:
        answer = read(self.server, "/ledgers?order=desc&limit=1")
        records = ((answer.body or {}).get("_embedded") or {}).get("records") if answer.found else None
        if not records:
            return NoReply(f"latest ledger: {answer.summary}")
        return LedgerHead(int(records[0]["sequence"]), epoch(records[0]["closed_at"]))

    def pace(self) -> Pace | NoReply:
        answer = read(self.server, f"/ledgers?order=desc&limit={CLOSE_TIME_SAMPLE}")
        records = ((answer.body or {}).get("_embedded") or {}).get("records") if answer.found else None
        if not records:
            return NoReply(f"ledgers: {answer.summary}")
        span = epoch(records[0]["closed_at"]) - epoch(records[-1]["closed_at"])
        return Pace(int(records[0]["sequence"]), span / max(1, len(records) - 1))

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

    def submit_and_wait(self, envelope_xdr: str) -> Applied | SubmitAnswer | NoReply:
        """POST ``/transactions``: Horizon answers once a ledger applied it (or core refused)."""
        try:
            record = self.server.submit_transaction(envelope_xdr, skip_memo_required_check=True)
        except BadRequestError as exc:
            extras = exc.extras or {}
            tx_code, op_codes = _result_codes(extras)
            if tx_code is None:
                # A rate limiter, an access rule or a size limit answered, not core.
                return NoReply(f"submit: {_describe(exc)} without result codes")
            return SubmitAnswer(Admission.REFUSED, extras.get("hash", ""), None, tx_code,
                                tuple(op_codes), extras.get("result_xdr"))
        except (BaseRequestError, ConnectionError) as exc:
            return NoReply(f"submit: {_describe(exc)}")
        return _applied(record, None)

    def fate(self, tx_hash: str) -> Fate:
        answer = read(self.server, f"/transactions/{tx_hash}")
        if answer.found:
            return _applied(answer.body or {}, answer.latest_ledger, tx_hash)
        if answer.missing and answer.latest_ledger is not None:
            return NotFound(tx_hash, answer.latest_ledger)
        return NoReply(f"transaction {tx_hash}: {answer.summary}", said_not_found=answer.status == 404)

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


def _applied(body: dict[str, Any], latest_ledger: int | None, tx_hash: str = "") -> Applied:
    """Horizon's transaction record (by inner or outer hash: ``hash`` is the one that applied)."""
    return Applied(body.get("hash", tx_hash), int(body["ledger"]), bool(body.get("successful", True)),
                   body.get("result_xdr"), str(body["paging_token"]), latest_ledger,
                   body.get("envelope_xdr"))


def _result_codes(extras: dict[str, Any]) -> tuple[str | None, list[str]]:
    """A synchronous POST's refusal codes; a fee-bump's inner transaction code."""
    codes = extras.get("result_codes") or {}
    tx_code = codes.get("transaction")
    if tx_code in FEE_BUMP_RESULTS:
        tx_code = codes.get("inner_transaction", tx_code)
    return tx_code, list(codes.get("operations") or [])


def _describe(exc: BaseRequestError | Exception) -> str:
    status = getattr(exc, "status", None)
    title = getattr(exc, "title", None) or type(exc).__name__
    return f"{status} {title}" if status else f"{title}: {exc}"[:300]


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
