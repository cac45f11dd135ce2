"""What the network answered, as values that say what they prove.

Every answer that rests on a node's knowledge carries ``latest_ledger``: the last ledger the
answering node had ingested (Horizon's ``Latest-Ledger`` header, RPC's ``latestLedger``).
"Not found" is evidence only together with it; :class:`NoReply` (a timeout, a dropped
connection, a 5xx, a 429, a 404 from something in front of the node, a JSON-RPC error)
proves nothing and its caller looks again later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum, auto
from typing import Any

FIRST_TRANSACTION_LEDGER = 2  # ledger 1 is genesis: no transaction applies before ledger 2


@dataclass(frozen=True)
class NoReply:
    """No answer from a node that says how far it has ingested: proves nothing.

    ``said_not_found``: something (a load balancer, a proxy) answered "not found" without
    saying how far it had seen: still no evidence, but the envelope may simply be unknown
    there, so it is worth sending again.
    """

    summary: str
    said_not_found: bool = False


@dataclass(frozen=True)
class LedgerHead:
    """The newest ledger the answering node has: its sequence and close time (epoch seconds)."""

    sequence: int
    closed_at: int


@dataclass(frozen=True)
class Pace:
    """The newest ledger and the mean seconds between recent closes (sizes ledger bounds and
    when to look at an envelope again)."""

    latest_ledger: int
    close_s: float


@dataclass(frozen=True)
class Signer:
    key: str
    weight: int


@dataclass(frozen=True)
class Trustline:
    """A trustline to a credit asset; amounts are Decimal with 7 places."""

    asset_code: str
    asset_issuer: str
    balance: Decimal
    limit: Decimal
    authorized: bool
    authorized_to_maintain_liabilities: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.asset_code, self.asset_issuer


@dataclass(frozen=True)
class AccountState:
    """An account as a node that has ingested up to ``latest_ledger`` knows it.

    ``thresholds`` is (master weight, low, medium, high), as the ledger stores them.
    ``sequence_ledger`` is the ledger where the sequence number was last set, when known.
    """

    account_id: str
    sequence: int
    balance: Decimal
    thresholds: tuple[int, int, int, int]
    signers: tuple[Signer, ...]
    trustlines: tuple[Trustline, ...]
    last_modified_ledger: int
    sequence_ledger: int | None
    latest_ledger: int | None

    def trustline(self, code: str, issuer: str) -> Trustline | None:
        return next((t for t in self.trustlines if t.key == (code, issuer)), None)


@dataclass(frozen=True)
class AccountMissing:
    """The node, at ``latest_ledger``, does not know the account (evidence of absence there)."""

    account_id: str
    latest_ledger: int


AccountAnswer = AccountState | AccountMissing | NoReply


@dataclass(frozen=True)
class FeeBid:
    """The per-operation fee to bid: recent inclusion fees' p90 or the base fee, capped."""

    base_fee: int
    latest_ledger: int | None


class Admission(Enum):
    """What the node did with a submitted envelope (no ledger has applied it yet)."""

    ACCEPTED = auto()  # queued for the next ledgers (PENDING)
    DUPLICATE = auto()  # already known: queued or applied before
    TRY_AGAIN_LATER = auto()  # the node's queue is full or the envelope banned for now
    REFUSED = auto()  # core refused it with result codes (see tx_code)


@dataclass(frozen=True)
class SubmitAnswer:
    """Core's admission answer. A refusal's ``tx_code`` is Horizon's spelling (``tx_bad_seq``).

    ``tx_bad_seq`` and ``tx_too_late`` prove nothing about an envelope sent before (an earlier
    send may have applied): the caller settles it by hash.
    """

    admission: Admission
    hash: str
    latest_ledger: int | None
    tx_code: str | None = None
    op_codes: tuple[str, ...] = ()
    result_xdr: str | None = None


@dataclass(frozen=True)
class Applied:
    """The transaction applied in ``ledger``: succeeded or failed (sequence used, fee charged).

    ``paging_token`` is the transaction's TOID, as Horizon spells it.
    """

    hash: str
    ledger: int
    successful: bool
    result_xdr: str | None
    paging_token: str
    latest_ledger: int | None
    envelope_xdr: str | None = None


@dataclass(frozen=True)
class NotFound:
    """A node that keeps ledgers ``oldest_ledger .. latest_ledger`` does not know the hash.

    ``oldest_ledger`` None: the node keeps all history it serves (Horizon). Evidence only
    through :meth:`proves_unapplied`: a node behind the envelope's bound, or one that has
    already dropped the ledgers where it could have applied (RPC's retention), proves nothing.
    """

    hash: str
    latest_ledger: int
    oldest_ledger: int | None = None
    oldest_closed_at: int | None = None

    def keeps_ledgers_after(self, moment: int) -> bool:
        """Every ledger closed after ``moment`` (epoch seconds) is still kept by this node:
        it keeps all history, its window starts at the first ledger that can hold a
        transaction, or its oldest kept ledger closed before that moment."""
        if self.oldest_ledger is None or self.oldest_ledger <= FIRST_TRANSACTION_LEDGER:
            return True
        return self.oldest_closed_at is not None and self.oldest_closed_at < moment

    def proves_unapplied(self, since_ledger: int, max_ledger: int) -> bool:
        """The envelope (valid in ledgers ``since_ledger`` .. ``max_ledger - 1``, max ledger
        being exclusive) did not apply and never will: every ledger that could take it was
        seen and is still kept by the node that does not know it."""
        kept = self.oldest_ledger is None or self.oldest_ledger <= since_ledger
        return kept and self.latest_ledger >= max_ledger - 1


Fate = Applied | NotFound | NoReply


@dataclass(frozen=True)
class PaymentPage:
    """Incoming payments as ``anchor_payment`` row fields, oldest first, and where to resume.

    ``cursor`` is stored as the row's ``paging_token``/the stream cursor; a later call from it
    returns only what comes after. ``claims`` are rows of events that name an asset its own
    contract did not emit (RPC only; ``forged_by`` set): the caller records those naming one
    of its assets as rejected (``payments/forged.py``) and counts the rest as ignored.
    ``ignored`` counts the other events that are no payment.
    """

    rows: list[dict[str, Any]]
    cursor: str
    latest_ledger: int | None
    ignored: int = 0
    claims: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Gap:
    """The cursor is older than the node keeps: ledgers ``after_ledger + 1 .. oldest_ledger - 1``
    cannot be read here. Nothing was skipped; fill them from history (Horizon) first."""

    cursor: str
    after_ledger: int
    oldest_ledger: int
    latest_ledger: int


PaymentsAnswer = PaymentPage | Gap | NoReply
