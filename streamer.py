"""Entry point for the streamer process: ``python streamer.py``.

It records every payment to a watched account in ``anchor_payment`` and publishes
``process_payment`` for it (see anchor_dramatiq.streaming).
"""

from anchor_dramatiq.streaming.entrypoint import main

if __name__ == "__main__":
    raise SystemExit(main())
