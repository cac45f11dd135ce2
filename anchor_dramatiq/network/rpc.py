"""The network interface over Stellar RPC (stellar-sdk's ``SorobanServer``).

Every RPC answer names the node's ``latestLedger``; a JSON-RPC error, a non-JSON answer or
no answer at all is :class:`NoReply`. ``sendTransaction`` ``ERROR`` carries core's refusal
(``errorResultXdr``); ``getTransaction`` ``NOT_FOUND`` carries the window the node keeps
(``oldestLedger`` .. ``latestLedger``), which is what it can prove anything about.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from stellar_sdk import SorobanServer, TransactionBuilder
from stellar_sdk.client.requests_client import RequestsClient
from stellar_sdk.exceptions import BaseRequestError
from stellar_sdk.soroban_rpc import GetTransactionStatus, SendTransactionStatus

from anchor_dramatiq.network import rpc_entries, rpc_events
from anchor_dramatiq.network.answers import (
    AccountAnswer,
    Admission,
    Applied,
    Fate,
    FeeBid,
    Gap,
    LedgerHead,
    NoReply,
    NotFound,
    Pace,
    PaymentPage,
    PaymentsAnswer,
    SubmitAnswer,
)
from anchor_dramatiq.network.common import capped_bid, refusal_codes
from anchor_dramatiq.network.interface import AssetKey
from anchor_dramatiq.paging import event_id, next_unread_ledger, toid
from anchor_dramatiq.vocabulary import NetworkApi

PAGE_LIMIT = 200
ADMISSIONS = {SendTransactionStatus.PENDING: Admission.ACCEPTED,
              SendTransactionStatus.DUPLICATE: Admission.DUPLICATE,
              SendTransactionStatus.TRY_AGAIN_LATER: Admission.TRY_AGAIN_LATER}
# What a call may raise when the node (or what stands in front of it) did not answer usably.
NOT_ANSWERED = (BaseRequestError, ValidationError, ValueError, KeyError)
# A hash no transaction has: getTransaction answers NOT_FOUND with the node's window and the
# close times of its ends, which give the pace in one call.
NO_SUCH_HASH = "0" * 64
WAIT_POLL_S = 0.5  # submit_and_wait: between looks at the hash


class RpcNetwork:
    """One Stellar RPC endpoint behind the :class:`~anchor_dramatiq.network.interface.Network`
    interface."""

    api = NetworkApi.RPC

    def __init__(self, rpc_url: str, passphrase: str, timeout: float = 30.0) -> None:
        # No hidden retries: a transport failure is NoReply and its caller looks again later.
        client = RequestsClient(num_retries=0, request_timeout=timeout,  # type: ignore[arg-type]
                                post_timeout=timeout)
        self.server = SorobanServer(rpc_url, client=client)
        self.passphrase = passphrase
        self.endpoint = rpc_url
        self.timeout = timeout

    def latest_ledger(self) -> LedgerHead | NoReply:
        try:
            head = self.server.get_latest_ledger()
        except NOT_ANSWERED as exc:
            return _no_reply("getLatestLedger", exc)
        return LedgerHead(head.sequence, head.close_time)

    def pace(self) -> Pace | NoReply:
        """The mean close time over the node's window (RPC has no ledger-history method that
        every provider serves; ``getTransaction``'s NOT_FOUND names both ends of the window)."""
        try:
            window = self.server.get_transaction(NO_SUCH_HASH)
        except NOT_ANSWERED as exc:
            return _no_reply("getTransaction (pace)", exc)
        ledgers = window.latest_ledger - window.oldest_ledger
        span = window.latest_ledger_close_time - window.oldest_ledger_close_time
        return Pace(window.latest_ledger, span / ledgers if ledgers > 0 else 0.0)

    def accounts(self, account_ids: Sequence[str], assets: Sequence[AssetKey] = ()
                 ) -> dict[str, AccountAnswer]:
        out: dict[str, AccountAnswer] = {}
        for group in rpc_entries.batches(list(dict.fromkeys(account_ids)), assets):
            try:
                answer = self.server.get_ledger_entries(rpc_entries.keys_for(group, assets))
            except NOT_ANSWERED as exc:
                out.update({a: _no_reply(f"getLedgerEntries {a}", exc) for a in group})
                continue
            entries = {entry.key: entry for entry in answer.entries or []}
            out.update(rpc_entries.decode(group, assets, entries, answer.latest_ledger))
        return out

    def fee_bid(self, cap: int) -> FeeBid | NoReply:
        try:
            stats = self.server.get_fee_stats()
        except NOT_ANSWERED as exc:
            return _no_reply("getFeeStats", exc)
        return FeeBid(capped_bid(stats.inclusion_fee.p90, cap), stats.latest_ledger)

    def submit(self, envelope_xdr: str) -> SubmitAnswer | NoReply:
        try:
            sent = self.server.send_transaction(envelope_xdr)
        except NOT_ANSWERED as exc:
            return _no_reply("sendTransaction", exc)  # it may have been admitted
        if sent.status in ADMISSIONS:
            return SubmitAnswer(ADMISSIONS[sent.status], sent.hash, sent.latest_ledger)
        if not sent.error_result_xdr:
            return NoReply(f"sendTransaction {sent.status.value} without a result")
        tx_code, op_codes = refusal_codes(sent.error_result_xdr)
        return SubmitAnswer(Admission.REFUSED, sent.hash, sent.latest_ledger, tx_code, op_codes,
                            sent.error_result_xdr)

    def submit_and_wait(self, envelope_xdr: str) -> Applied | SubmitAnswer | NoReply:
        """``sendTransaction``, then ``getTransaction`` every half second until it applied or
        the client's timeout passed (then the admission answer: its fate is settled later)."""
        sent = self.submit(envelope_xdr)
        if not isinstance(sent, SubmitAnswer) or sent.admission not in (Admission.ACCEPTED,
                                                                        Admission.DUPLICATE):
            return sent
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            time.sleep(WAIT_POLL_S)
            fate = self.fate(sent.hash)
            if isinstance(fate, Applied):
                return fate
        return sent

    def fate(self, tx_hash: str) -> Fate:
        """By inner or outer hash (stellar-rpc indexes a fee-bump under both, as Horizon does);
        an applied fee-bump is named by its outer hash, the one that applied."""
        try:
            found = self.server.get_transaction(tx_hash)
        except NOT_ANSWERED as exc:
            return _no_reply(f"getTransaction {tx_hash}", exc)
        if found.status == GetTransactionStatus.NOT_FOUND:
            return NotFound(tx_hash, found.latest_ledger, found.oldest_ledger,
                            found.oldest_ledger_close_time)
        if found.ledger is None or found.application_order is None:
            return NoReply(f"getTransaction {tx_hash}: {found.status.value} without its ledger")
        applied_hash = found.transaction_hash
        if found.fee_bump and found.envelope_xdr:
            applied_hash = TransactionBuilder.from_xdr(found.envelope_xdr, self.passphrase).hash_hex()
        return Applied(applied_hash, found.ledger,
                       found.status == GetTransactionStatus.SUCCESS, found.result_xdr,
                       str(toid(found.ledger, found.application_order)), found.latest_ledger,
                       found.envelope_xdr)

    def incoming(self, account_ids: Sequence[str], cursor: str | None, limit: int = PAGE_LIMIT
                 ) -> PaymentsAnswer:
        """Payments to any of the watched accounts after ``cursor`` (an event id).

        Each request of :func:`rpc_events.request_filters` pages on its own; the page ends at
        the earliest point every request has reached, so an event after it is read again next
        time rather than skipped (rows are unique by operation id).
        """
        start_ledger = None
        if cursor is None:
            head = self.latest_ledger()
            if isinstance(head, NoReply):
                return head
            start_ledger = head.sequence
        events, reached, latest = [], [], None
        for filters in rpc_events.request_filters(account_ids):
            try:
                page = self.server.get_events(start_ledger=start_ledger, filters=filters,
                                              cursor=cursor, limit=limit)
            except NOT_ANSWERED as exc:
                # A node that dropped the cursor's ledger meanwhile refuses it: say so.
                gap = self._gap(cursor) if cursor is not None else None
                return gap or _no_reply("getEvents", exc)
            if cursor is not None:
                # The answer says what the node keeps; one that would start later than the
                # cursor skips nothing unseen: the page is not taken.
                gap = (self._gap(cursor) if page.oldest_ledger is None
                       else _gap_after(cursor, page.oldest_ledger, page.latest_ledger))
                if gap is not None:
                    return gap
            events.extend(page.events)
            full = len(page.events) >= limit
            reached.append(page.events[-1].id if full else (page.cursor or _end_of(page.latest_ledger)))
            latest = page.latest_ledger if latest is None else min(latest, page.latest_ledger)
        next_cursor = min(reached) if reached else (cursor or _end_of(start_ledger or 0))
        taken = sorted({e.id: e for e in events if e.id <= next_cursor}.values(), key=lambda e: e.id)
        return self._rows(taken, frozenset(account_ids), cursor, next_cursor, latest)

    def _rows(self, events: list[Any], watched: frozenset[str], start: str | None, cursor: str,
              latest: int | None) -> PaymentsAnswer:
        fates: dict[str, Applied | NotFound | NoReply] = {}

        def envelope(tx_hash: str) -> str | None:
            if tx_hash not in fates:
                fates[tx_hash] = self.fate(tx_hash)
            fate = fates[tx_hash]
            return fate.envelope_xdr if isinstance(fate, Applied) else None

        rows: list[dict[str, Any]] = []
        claims: list[dict[str, Any]] = []
        ignored = 0
        for event in events:
            try:
                row = rpc_events.payment_row(event, watched, self.passphrase, envelope)
            except rpc_events.Unreadable as exc:
                # The node keeps events longer than transactions: one whose transaction it no
                # longer keeps can only be read from history (a gap), never skipped.
                fate = fates.get(event.transaction_hash)
                if (start is not None and isinstance(fate, NotFound) and fate.oldest_ledger is not None
                        and fate.oldest_ledger > event.ledger):
                    gap = _gap_after(start, fate.oldest_ledger, fate.latest_ledger)
                    if gap is not None:
                        return gap
                return NoReply(f"getTransaction {exc} (an event's memo)")
            if row is None:
                ignored += 1
            else:
                (claims if row.get("forged_by") else rows).append(row)
        return PaymentPage(rows, cursor, latest, ignored, claims)

    def _gap(self, cursor: str) -> Gap | None:
        """A Gap when the node no longer keeps the ledger after ``cursor``."""
        try:
            health = self.server.get_health()
        except NOT_ANSWERED:
            return None
        return _gap_after(cursor, health.oldest_ledger, health.latest_ledger)

    def close(self) -> None:
        self.server.close()


def _gap_after(cursor: str, oldest: int, latest: int) -> Gap | None:
    """A Gap when a node keeping ``oldest`` .. ``latest`` has dropped ledgers after ``cursor``."""
    resume = next_unread_ledger(cursor)  # the first ledger still to read (in part)
    if resume < oldest:
        return Gap(cursor, resume - 1, oldest, latest)
    return None


def _end_of(ledger: int) -> str:
    """The cursor after every event of ``ledger``."""
    return event_id(ledger + 1)


def _no_reply(what: str, exc: Exception) -> NoReply:
    """The exception's type only: its text may carry the request URL, and a provider's
    ``ANCHOR_RPC_URL`` often holds an API key (this reason reaches logs and stored rows)."""
    return NoReply(f"{what}: {type(exc).__name__}")
