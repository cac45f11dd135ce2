"""Error types the actors and flows share."""


class PermanentError(Exception):
    """Retrying cannot help (bad input, a transaction in the wrong state, a fake asset).

    Actors list it in ``throws`` so Dramatiq fails the message at once; the flow records
    the reason on the row before raising, so nothing is lost silently.
    """


class RailsError(Exception):
    """The anchor's rails integration returned something the flows cannot accept."""


class InvalidSeedError(ValueError):
    """A stored or configured seed is not a Stellar secret seed.

    The message names whose seed it is (an asset, a channel, a variable), never the value:
    stellar-sdk's own error quotes the seed, so it is never chained (``__cause__`` and
    ``__context__`` are both None) and a traceback cannot print it.
    """
