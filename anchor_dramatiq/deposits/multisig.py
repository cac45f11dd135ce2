"""Polaris's multisig contract for distribution accounts that need more than their own key.

The envelope (a leased channel account as the transaction source, signed by the channel
and the distribution key) is stored and copied to ``envelope_xdr`` with
``pending_signatures=True`` and ``submission_status=blocked``. The anchor adds the other
signatures to ``envelope_xdr`` and sets ``pending_signatures`` to false (or
``submission_status`` to ``unblocked``); the stored submission is then sent with the
signed envelope. Its validity is long (signatures take people) but still bounded.
"""

from __future__ import annotations

import logging

from stellar_sdk import TransactionEnvelope

from anchor_dramatiq.models import Submission, Transaction
from anchor_dramatiq.network.answers import AccountState
from anchor_dramatiq.stellar.submission import parse_envelope
from anchor_dramatiq.vocabulary import DepositResult, SubmissionStatus, TransactionStatus

log = logging.getLogger(__name__)

VALIDITY_S = 24 * 3600
WAITING = "waiting for the distribution account's other signers: sign envelope_xdr, then set " \
          "pending_signatures to false"


def needs_more_signatures(account: AccountState) -> bool:
    """True if the distribution key alone cannot reach the medium threshold."""
    master, _, medium, _ = account.thresholds
    return master == 0 or master < medium


def adopt_signed_envelope(transaction: Transaction, submission: Submission,
                          passphrase: str) -> DepositResult | None:
    """Take the anchor's signed ``envelope_xdr`` into the stored submission.

    Returns None when this call adopted it (the deposit is ``processing`` again and nobody
    else is submitting it), else why not.
    """
    if transaction.pending_signatures or not transaction.envelope_xdr:
        return DepositResult.AWAITING_SIGNATURES
    envelope = parse_envelope(transaction.envelope_xdr, passphrase)
    if not isinstance(envelope, TransactionEnvelope) or envelope.hash_hex() != submission.hash:
        return DepositResult.ENVELOPE_CHANGED
    Submission.update(envelope_xdr=envelope.to_xdr()).where(Submission.id == submission.id).execute()
    submission.envelope_xdr = envelope.to_xdr()
    if not (Transaction.update(submission_status=SubmissionStatus.PROCESSING, status_message=None)
            .where((Transaction.id == transaction.id)
                   & (Transaction.status == TransactionStatus.PENDING_ANCHOR)
                   & Transaction.submission_status.in_((SubmissionStatus.BLOCKED,
                                                        SubmissionStatus.UNBLOCKED))).execute()):
        return DepositResult.ADOPTED_ELSEWHERE
    log.info("deposit %s: signed envelope adopted for %s", transaction.id, submission.hash)
    return None
