"""Wallet callbacks: a signed POST of the transaction to its ``on_change_callback``.

Every status change of a transaction whose ``on_change_callback`` is a URL (not empty, not
``postMessage``) enqueues ``send_callback(id)`` on its own queue; the actor re-reads the row
and POSTs ``{"transaction": {...}}`` in the shape Polaris 2.6 sends, with Polaris's
``Signature: t=<unix time>, s=<base64 ed25519 signature>`` header over
``"<t>.<host of the URL>.<body>"``, signed with ``ANCHOR_SIGNING_SEED``. A failed POST is
retried by Dramatiq with a capped backoff and, when retries run out, given up with a
WARNING naming the transaction. A callback never changes a transaction (Polaris 2.6 turned
a failed callback into ``error``; see research/anchors.md). URLs are logged by host only:
a wallet may put a token in the path or query.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import dramatiq

from anchor_dramatiq.config import Settings, get_settings
from anchor_dramatiq.crypto import Secret
from anchor_dramatiq.errors import CallbackFailed
from anchor_dramatiq.models import Asset, Quote, Transaction
from anchor_dramatiq.payments.refunds import sep_refunds
from anchor_dramatiq.queues import ActorName, Queue
from anchor_dramatiq.stellar.keys import keypair_from_seed
from anchor_dramatiq.vocabulary import DEPOSIT_KINDS, TransactionStatus

log = logging.getLogger(__name__)

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# Polaris's Transaction.status_to_message (SEP-31 statuses have none).
STATUS_MESSAGES = {
    TransactionStatus.PENDING_ANCHOR: "processing",
    TransactionStatus.PENDING_TRUST: "waiting for a trustline to be established",
    TransactionStatus.PENDING_USER: "waiting on user action",
    TransactionStatus.PENDING_USER_TRANSFER_START: "waiting on the user to transfer funds",
    TransactionStatus.INCOMPLETE: "incomplete",
    TransactionStatus.NO_MARKET: "no market for the asset",
    TransactionStatus.TOO_SMALL: "the transaction amount is too small",
    TransactionStatus.TOO_LARGE: "the transaction amount is too big",
    TransactionStatus.COMPLETED: "complete",
    TransactionStatus.ERROR: "error",
    TransactionStatus.PENDING_EXTERNAL: "waiting on an external entity",
    TransactionStatus.PENDING_STELLAR: "stellar is executing the transaction",
}


def wants_callback(url: str | None) -> bool:
    return url is not None and url != "" and url.strip().lower() != "postmessage"


_no_seed_logged = threading.Event()


def _signing_seed(settings: Settings) -> str | None:
    """The seed, or None after logging (once per process) that callbacks are off."""
    if settings.signing_seed is None:
        if not _no_seed_logged.is_set():
            _no_seed_logged.set()
            log.warning("ANCHOR_SIGNING_SEED is not set: wallet callbacks (on_change_callback) "
                        "are not sent")
        return None
    return settings.signing_seed.reveal()


# --------------------------------------------------------------------------- enqueueing


def enqueue_callback(transaction: Transaction, old_status: str, new_status: str) -> None:
    """Status-change listener: nudge ``send_callback(id)`` if the wallet asked for callbacks."""
    if not wants_callback(transaction.on_change_callback) or _signing_seed(get_settings()) is None:
        return
    transaction_id = transaction.id
    message: dramatiq.Message[None] = dramatiq.Message(
        queue_name=Queue.CALLBACKS, actor_name=ActorName.SEND_CALLBACK,
        args=(str(transaction_id),), kwargs={}, options={})
    try:
        dramatiq.get_broker().enqueue(message)
    except Exception:
        log.exception("could not enqueue the wallet callback for transaction %s (%s -> %s)",
                      transaction_id, old_status, new_status)


# --------------------------------------------------------------------------- the body


def _amount(value: Decimal | None, asset: Asset) -> str | None:
    """Rounded to the asset's significant decimals, as Polaris's serializer does."""
    if value is None:
        return None
    places = asset.significant_decimals
    if places == 7 and Decimal("0.000001") > value >= Decimal("0.0000001"):
        return f"{value:.7f}"
    return str(round(value, places))


def _time(value) -> str | None:
    return value.strftime(DATETIME_FORMAT) if value is not None else None


def transaction_json(transaction: Transaction) -> dict[str, Any]:
    """The SEP-6/24 transaction object Polaris 2.6 puts in a callback (its TransactionSerializer).

    Two deviations: ``refunds`` (SEP-6/24's object) once a refund of its payment was paid; and
    ``deposit-exchange`` gets the deposit fields (``deposit_memo``) as SEP-6
    specifies, where Polaris only gives them to ``deposit``.
    """
    asset = transaction.asset
    data: dict[str, Any] = {
        "id": str(transaction.id),
        "kind": transaction.kind,
        "status": transaction.status,
        "status_eta": transaction.status_eta,
        "amount_in": _amount(transaction.amount_in, asset),
        "amount_out": _amount(transaction.amount_out, asset),
        "amount_fee": _amount(transaction.amount_fee, asset),
        "started_at": _time(transaction.started_at),
        "completed_at": _time(transaction.completed_at),
        "stellar_transaction_id": transaction.stellar_transaction_id,
        "external_transaction_id": transaction.external_transaction_id,
        "more_info_url": transaction.more_info_url,
        "refunded": bool(transaction.refunded),
        "message": STATUS_MESSAGES.get(transaction.status),
        "claimable_balance_id": transaction.claimable_balance_id,
        "to": transaction.to_address,
        "from": transaction.from_address,
    }
    refunds = sep_refunds(transaction.id)
    if refunds is not None:  # SEP-6/24's refunds object, once a refund was paid (Polaris has none)
        data["refunds"] = refunds
    if transaction.kind in DEPOSIT_KINDS:
        data["deposit_memo_type"] = transaction.memo_type
        data["deposit_memo"] = transaction.memo
    else:
        data["withdraw_memo_type"] = transaction.memo_type
        data["withdraw_memo"] = transaction.memo
        data["withdraw_anchor_account"] = transaction.receiving_anchor_account
        del data["claimable_balance_id"]
    if transaction.protocol == "sep6":
        del data["more_info_url"]  # Polaris's SEP6_USE_MORE_INFO_URL default
    quote = Quote.get_or_none(Quote.id == transaction.quote_id) if transaction.quote_id else None
    if quote is not None:
        data["amount_in_asset"] = quote.sell_asset
        data["amount_out_asset"] = quote.buy_asset
        if transaction.fee_asset:
            data["amount_fee_asset"] = transaction.fee_asset
    return data


def signature_header(url: str, body: str, seed: str, now: float | None = None) -> str:
    """Polaris's ``Signature`` header: ``t=<unix time>, s=<base64 ed25519 signature>``."""
    stamp = int(time.time() if now is None else now)
    payload = f"{stamp}.{urlsplit(url).netloc}.{body}".encode()
    signer = keypair_from_seed(Secret(seed), "ANCHOR_SIGNING_SEED")
    signature = base64.b64encode(signer.sign(payload)).decode()
    return f"t={stamp}, s={signature}"


# --------------------------------------------------------------------------- sending


def send_callback(transaction_id: uuid.UUID | str, settings: Settings | None = None) -> str:
    """POST the transaction as it is now to its callback URL; returns a word for logs and tests.

    Raises :class:`CallbackFailed` (retried by the actor) when the wallet did not answer 2xx.
    """
    settings = settings or get_settings()
    transaction = (Transaction.select(Transaction, Asset).join(Asset)
                   .where(Transaction.id == uuid.UUID(str(transaction_id))).first())
    if transaction is None or not wants_callback(transaction.on_change_callback):
        return "no callback"
    seed = _signing_seed(settings)
    if seed is None:
        return "no signing seed"
    url = transaction.on_change_callback.strip()
    host = urlsplit(url).netloc
    if urlsplit(url).scheme not in ("http", "https") or not host:
        log.error("transaction %s: on_change_callback is not an http(s) URL; no callback sent",
                  transaction.id)
        return "bad url"
    body = json.dumps({"transaction": transaction_json(transaction)})
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Signature": signature_header(url, body, seed), "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=settings.callback_timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CallbackFailed(f"callback for transaction {transaction.id} to {host}: "
                             f"{type(reason).__name__}: {reason}") from None
    if not 200 <= status < 300:
        raise CallbackFailed(f"callback for transaction {transaction.id} to {host}: HTTP {status}")
    log.info("transaction %s: callback (%s) delivered to %s", transaction.id, transaction.status, host)
    return "delivered"
