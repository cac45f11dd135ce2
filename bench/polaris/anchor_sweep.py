"""One ``poll_pending_deposits`` sweep of anchor-dramatiq, measured like Polaris's
(``manage.py bench sweep``): wall time and peak RSS before/after, as one JSON line.

Run with the project's python and the ``ANCHOR_*`` environment (``bench/compare_polaris.py``).
"""

from __future__ import annotations

import json
import resource
import time

from anchor_dramatiq.config import get_settings
from anchor_dramatiq.db import open_database
from anchor_dramatiq.deposits.poll import poll_pending_deposits


def main() -> None:
    settings = get_settings()
    open_database(settings.database_url)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    ready = poll_pending_deposits(settings)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "rss_before_kib": before, "rss_peak_kib": peak, "ready": ready}))


if __name__ == "__main__":
    main()
