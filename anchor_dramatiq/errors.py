"""Error types the actors and flows share."""


class PermanentError(Exception):
    """Retrying cannot help (bad input, a transaction in the wrong state, a fake asset).

    Actors list it in ``throws`` so Dramatiq fails the message at once; the flow records
    the reason on the row before raising, so nothing is lost silently.
    """


class RailsError(Exception):
    """The anchor's rails integration returned something the flows cannot accept."""
