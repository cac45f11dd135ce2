"""What the jobs ask of the Stellar network: one small interface, two implementations.

:class:`~anchor_dramatiq.network.horizon.HorizonNetwork` and
:class:`~anchor_dramatiq.network.rpc.RpcNetwork` answer the same questions with the values of
:mod:`anchor_dramatiq.network.answers`; nothing above this interface knows which API it spoke.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from anchor_dramatiq.network.answers import (
    AccountAnswer,
    Applied,
    Fate,
    FeeBid,
    LedgerHead,
    NoReply,
    Pace,
    PaymentsAnswer,
    SubmitAnswer,
)
from anchor_dramatiq.vocabulary import NetworkApi

#: A credit asset as (code, issuer).
AssetKey = tuple[str, str]


class Network(Protocol):
    """Everything the jobs ask of Stellar. Methods never raise for a network failure: they
    return :class:`NoReply`, which proves nothing."""

    api: NetworkApi

    #: The URL answered from: per-process caches (fee bid, pace) are kept per endpoint.
    endpoint: str

    def latest_ledger(self) -> LedgerHead | NoReply:
        """The newest ledger the answering node has closed and ingested."""

    def pace(self) -> Pace | NoReply:
        """The newest ledger and the mean seconds between recent closes."""

    def accounts(self, account_ids: Sequence[str], assets: Sequence[AssetKey] = ()
                 ) -> dict[str, AccountAnswer]:
        """Each account (its trustlines to ``assets`` only), batched as the backend allows."""

    def fee_bid(self, cap: int) -> FeeBid | NoReply:
        """The per-operation fee to bid now: max(100, recent p90), at most ``cap`` stroops."""

    def submit(self, envelope_xdr: str) -> SubmitAnswer | NoReply:
        """Hand a stored envelope to core once, without waiting for a ledger."""

    def submit_and_wait(self, envelope_xdr: str) -> Applied | SubmitAnswer | NoReply:
        """Hand a stored envelope to core and wait a while for the ledger that applies it:
        :class:`Applied` once it has, else core's admission answer (or :class:`NoReply`)."""

    def fate(self, tx_hash: str) -> Fate:
        """What the network knows of a transaction hash."""

    def incoming(self, account_ids: Sequence[str], cursor: str | None, limit: int = 200
                 ) -> PaymentsAnswer:
        """Payments to the watched accounts after ``cursor`` (None: from the latest ledger)."""

    def close(self) -> None:
        """Release the HTTP sessions."""
