"""The anchor's one error hierarchy: every error it raises on purpose is an :class:`AnchorError`.

Grouped by what the caller does about it: fix the configuration and restart; fail the
message for good (the reason is on the row); retry later (Dramatiq's retry or the next
sweep); or tell the person who asked. Secrets never appear in a message.
"""


class AnchorError(Exception):
    """Base of every error the anchor raises on purpose."""


# --------------------------------------------------------------------------- configuration


class ConfigError(AnchorError):
    """A configuration value is missing or malformed; the message names the variable."""


class ScheduleError(AnchorError, ValueError):
    """Not a schedule this project can run."""


class InvalidSeedError(AnchorError, ValueError):
    """A stored or configured seed is not a Stellar secret seed.

    The message names whose seed it is (an asset, a channel, a variable), never the value:
    stellar-sdk's own error quotes the seed, so it is never chained (``__cause__`` and
    ``__context__`` are both None) and a traceback cannot print it.
    """


class SeedDecryptionError(AnchorError):
    """The stored value is not a seed encrypted with this ``ANCHOR_SECRET_KEY``."""


# --------------------------------------------------------------------------- fail for good


class PermanentError(AnchorError):
    """Retrying cannot help (bad input, a transaction in the wrong state, a fake asset).

    Actors list it in ``throws`` so Dramatiq fails the message at once; the flow records
    the reason on the row before raising, so nothing is lost silently.
    """


class RailsError(AnchorError):
    """The anchor's rails integration returned something the flows cannot accept."""


class DepositRejected(AnchorError, ValueError):
    """The reported funding cannot be paid; the reason is recorded on the deposit."""


class Unencodable(AnchorError, ValueError):
    """The row cannot be turned into a Stellar payment; the message names the field."""


# --------------------------------------------------------------------------- retry later


class NoAnswer(AnchorError):
    """Horizon gave no answer a decision can rest on; look again later."""


class CallbackFailed(AnchorError):
    """The wallet did not take the callback (no 2xx, timeout, unreachable); retry later."""


class MatchRace(AnchorError):
    """The waiting transaction kept changing under us; Dramatiq retries the message."""


class StreamSilent(AnchorError):
    """No event for longer than the silence timeout: the stream is reopened."""


# --------------------------------------------------------------------------- for the operator


class NotHeld(AnchorError):
    """The transaction has no held payout (never held, or already resolved)."""


class RefundRefused(AnchorError):
    """This payment cannot be refunded as asked (the message says why); nothing was sent."""
