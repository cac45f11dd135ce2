"""Incoming Stellar payments: recorded from Horizon records, matched to waiting transactions.

The streamer and the reconcile sweep record; the ``process_payment`` actor matches.
"""

#: Horizon operation types that move an asset to a destination and can pay a withdrawal.
PAYMENT_TYPES = frozenset({"payment", "path_payment_strict_receive", "path_payment_strict_send",
                           "path_payment"})
