"""The streamer: one asyncio process recording every payment to the watched accounts.

:mod:`.entrypoint` is the process ``python streamer.py`` runs (boot, signals, metrics);
:class:`~anchor_dramatiq.streaming.supervisor.Streamer` the supervisor (a stream per watched
account, and the outbox publisher); :mod:`.stream` one account's reader and batch writer; :mod:`.cursor`
the durable state (and :func:`~anchor_dramatiq.streaming.cursor.stream_status` for status
and metrics); :mod:`.source` what a payment source gives it, :mod:`.horizon_source` the
Horizon one and :mod:`.rpc_source` the Stellar RPC one; :mod:`.dbthread` the database thread;
:mod:`.backoff` reconnect delays.
"""
