"""Logging: text or JSON lines on stderr, with secrets masked in every line.

Every process calls :func:`setup_logging` once its settings are known: the CLI, and
:func:`anchor_dramatiq.boot.boot` (which ``actors`` calls inside each ``dramatiq`` worker
process and inside ``periodiq``, after those tools' own ``basicConfig``, whose handler is
replaced).
Masking happens twice: a filter rewrites the record's message (so any other handler, such
as pytest's, sees the masked text too), and the formatter masks the finished line, which
also covers tracebacks and exception messages.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable

from anchor_dramatiq.config import Settings

#: A seed, whole or not: S and 40 or more base32 characters not inside a longer base32 word
#: (so a G... account is left alone), in either case, since a damaged stored seed (one
#: character short, a trailing newline, lower-cased) is still a secret; and any full-length
#: S + 55 run wherever it stands.
SEED_PATTERN = re.compile(r"(?<![A-Za-z2-7])[Ss][A-Za-z2-7]{40,}|S[A-Z2-7]{55}")
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s/]+@", re.I)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(process)d %(threadName)s %(name)s: %(message)s"
JSON_FIELDS = ("transaction_id", "operation_id", "submission", "actor")

_secrets: tuple[str, ...] = ()


def redact(text: str) -> str:
    """Mask Stellar seeds, configured secret values and passwords in URLs."""
    text = SEED_PATTERN.sub("S[REDACTED]", text)
    text = URL_PASSWORD.sub(r"\1[REDACTED]@", text)
    for secret in _secrets:
        text = text.replace(secret, "[REDACTED]")
    return text


def set_secrets(values: Iterable[str]) -> None:
    """The exact secret values (e.g. ANCHOR_SECRET_KEY) that must never appear in a line."""
    global _secrets
    _secrets = tuple(sorted({v for v in values if v}, key=len, reverse=True))


class RedactSeeds(logging.Filter):
    """Rewrite a record whose message holds a secret, before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the known context fields (``extra=``) become keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": redact(record.getMessage()),
        }
        for key in JSON_FIELDS:
            if hasattr(record, key):
                entry[key] = redact(str(getattr(record, key)))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


class AnchorHandler(logging.StreamHandler):
    """The project's stderr handler (a type of its own so setup can find and replace it)."""


def setup_logging(settings: Settings) -> None:
    """Install the project's handler on the root logger; safe to call more than once.

    Replaces plain ``StreamHandler``s (what ``logging.basicConfig`` in dramatiq's and
    periodiq's CLIs installed) and an earlier project handler; leaves others alone.
    """
    secrets = [s.reveal() for s in (settings.secret_key, settings.signing_seed) if s is not None]
    set_secrets(secrets)
    root = logging.getLogger()
    handler = AnchorHandler(sys.stderr)
    handler.addFilter(RedactSeeds())
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter(TEXT_FORMAT))
    for old in list(root.handlers):
        if type(old) in (logging.StreamHandler, AnchorHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    pika = logging.getLogger("pika")
    pika.setLevel(max(pika.level, logging.WARNING))
    # peewee's DEBUG echoes every SQL statement with its parameters (callback URLs that may
    # carry a wallet's token, encrypted seeds): not log material even at DEBUG.
    peewee = logging.getLogger("peewee")
    peewee.setLevel(max(peewee.level, logging.INFO))
