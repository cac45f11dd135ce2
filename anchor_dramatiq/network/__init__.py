"""One interface to the Stellar network for every job, over Horizon or Stellar RPC.

:mod:`.interface` says what the jobs ask, :mod:`.answers` what an answer proves (each
carries the answering node's latest ingested ledger where the backend gives it),
:mod:`.horizon` and :mod:`.rpc` answer it, and :func:`.factory.network_for` picks one from
``ANCHOR_NETWORK_API``. See docs/network.md.
"""
