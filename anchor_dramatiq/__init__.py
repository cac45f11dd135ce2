"""anchor-dramatiq: a Stellar anchor's background jobs as Dramatiq actors."""

__version__ = "0.1.0"
