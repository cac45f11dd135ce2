"""The anchor's rails integration: the seam between these jobs and the anchor's bank.

Subclass :class:`RailsIntegration` (the three methods of Polaris's ``RailsIntegration``,
over peewee rows instead of Django querysets) and name it in ``ANCHOR_RAILS``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from collections.abc import Sequence

from anchor_dramatiq.config import ConfigError, get_settings
from anchor_dramatiq.models import Transaction
from anchor_dramatiq.vocabulary import PayoutStatus as PayoutStatus  # integrations import it from here

log = logging.getLogger(__name__)


class RailsIntegration:
    """Base class for the anchor's off-chain rails. Every method may be called concurrently
    from several worker threads and processes.

    ``execute_outgoing_transaction`` is called once per payout: a call whose result could
    not be saved is *held* for ``payout_status`` or a person, never repeated — unless
    ``payouts_idempotent`` is True (the bank makes at most one payout per idempotency key),
    in which case it may be called again with the same key.

    Optional: ``payout_status(transaction, key) -> PayoutStatus`` asks the bank whether the
    payout with that idempotency key was made; with it, held payouts settle themselves.
    """

    payouts_idempotent: bool = False

    def poll_pending_deposits(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        """Return the deposits among ``transactions`` whose off-chain funds have arrived.

        Set ``amount_in`` on each returned row (and ``amount_fee`` / ``amount_out`` if the
        anchor computes them; otherwise the asset's deposit fees are applied). Do not save:
        the flow validates and saves them with a guarded update.
        """
        raise NotImplementedError

    def execute_outgoing_transaction(self, transaction: Transaction) -> None:
        """Send the payout of a withdrawal (``pending_anchor``) or send (``pending_receiver``).

        Leave ``transaction.status`` set to ``pending_external``, ``completed``, ``error`` or
        ``pending_transaction_info_update`` (and ``amount_fee`` / ``amount_out`` /
        ``external_transaction_id`` as known). Do not save. Declare an ``idempotency_key``
        keyword parameter to receive the payout's key (the transaction's id); Polaris's
        one-argument signature keeps working.
        """
        raise NotImplementedError

    def poll_outgoing_transactions(self, transactions: Sequence[Transaction]) -> list[Transaction]:
        """Return the ``pending_external`` payouts among ``transactions`` that have completed."""
        raise NotImplementedError

    def after_deposit(self, transaction: Transaction) -> None:
        """Called once after a deposit is completed on Stellar. Optional."""

    def on_status_change(self, transaction: Transaction, old_status: str) -> None:
        """Called after every status change the jobs make. Optional; must not raise."""


def accepts_idempotency_key(rails: RailsIntegration) -> bool:
    """True if ``execute_outgoing_transaction`` takes an ``idempotency_key`` keyword (or ``**kwargs``)."""
    parameters = inspect.signature(rails.execute_outgoing_transaction).parameters.values()
    return any(p.name == "idempotency_key" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               or p.kind is p.VAR_KEYWORD for p in parameters)


def call_payout(rails: RailsIntegration, transaction: Transaction, key: str) -> None:
    """Call the payout, handing over the idempotency key when the integration asks for it."""
    if accepts_idempotency_key(rails):
        # the integration's own signature takes it (checked just above)
        rails.execute_outgoing_transaction(transaction, idempotency_key=key)  # type: ignore[call-arg]
    else:
        rails.execute_outgoing_transaction(transaction)


def can_tell_payout_status(rails: RailsIntegration) -> bool:
    """True if the integration implements the optional ``payout_status(transaction, key)``."""
    return callable(getattr(rails, "payout_status", None))


def load_rails(path: str) -> RailsIntegration:
    """Instantiate ``module:Class`` from ``ANCHOR_RAILS``."""
    module_name, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"ANCHOR_RAILS: cannot import {path!r} ({exc})") from None
    if not (isinstance(cls, type) and issubclass(cls, RailsIntegration)):
        raise ConfigError(f"ANCHOR_RAILS: {path!r} is not a RailsIntegration subclass")
    return cls()


@functools.lru_cache(maxsize=4)
def rails_for(path: str) -> RailsIntegration:
    """One instance per process and ``ANCHOR_RAILS`` value."""
    return load_rails(path)


def notify_rails(transaction: Transaction, old_status: str, new_status: str) -> None:
    """Status listener: hand the committed change to the integration's ``on_status_change``."""
    rails_for(get_settings().rails).on_status_change(transaction, old_status)
