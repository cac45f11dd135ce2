"""Deposits: funded off-chain, paid on Stellar exactly once.

- :func:`deposit_funded` -- the anchor's own code reports funds; the deposit is paid now.
- :func:`poll_pending_deposits` -- the periodic poll of the rails integration.
- :func:`submit_deposit` -- claim, check the destination, batch, store, submit, settle.
- :func:`pay_ready` / :func:`settle_batch` -- the pipeline: full transactions on every
  channel account, submitted asynchronously and settled by hash.
- :func:`check_trustlines` -- ``pending_trust`` / ``pending_funding`` deposits back to ready.
- :func:`resume_deposits` -- the sweep that re-derives lost work from the database.
"""

from anchor_dramatiq.deposits.pipeline import pay_ready, settle_batch
from anchor_dramatiq.deposits.poll import poll_pending_deposits
from anchor_dramatiq.deposits.ready import DepositRejected, deposit_funded
from anchor_dramatiq.deposits.resume import resume_deposits
from anchor_dramatiq.deposits.submit import submit_deposit
from anchor_dramatiq.deposits.trustlines import check_trustlines

__all__ = ["DepositRejected", "check_trustlines", "deposit_funded", "pay_ready",
           "poll_pending_deposits", "resume_deposits", "settle_batch", "submit_deposit"]
