"""Logging: text or JSON lines, and a filter that masks any Stellar secret seed."""

from __future__ import annotations

import json
import logging
import re
import sys

from anchor_dramatiq.config import Settings

SEED_PATTERN = re.compile(r"S[A-Z2-7]{55}")


class RedactSeeds(logging.Filter):
    """Last line of defence: a string shaped like a Stellar seed never reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if SEED_PATTERN.search(message):
            record.msg = SEED_PATTERN.sub("S[REDACTED]", message)
            record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("transaction_id", "operation_id", "submission", "actor"):
            if hasattr(record, key):
                entry[key] = str(getattr(record, key))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(settings: Settings) -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSeeds())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(process)d %(threadName)s %(name)s: %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("pika").setLevel(logging.WARNING)
