"""The streamer: one asyncio process recording every payment to the watched accounts.

``main.main()`` is ``python streamer.py``; :class:`~anchor_dramatiq.streaming.streamer.Streamer`
is the supervisor, :mod:`.stream` one account's stream, :mod:`.cursor` the durable state
(and :func:`~anchor_dramatiq.streaming.cursor.stream_status` for status and metrics).
"""
