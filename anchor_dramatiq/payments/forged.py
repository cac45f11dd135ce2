"""Events that claim to move one of the anchor's assets but that asset's own Stellar Asset
Contract did not emit: recorded rejected, never matched, never refunded.

Over RPC anyone's contract can emit a ``transfer`` event whose ``to`` is a watched account and
whose asset string reads ``USDC:G...``: nothing of the asset moved. Such a claim
(:func:`~anchor_dramatiq.network.rpc_events.claim_row`) that names one of the configured
assets -- the same asset string, or the same code -- is recorded as an ``anchor_payment`` row
settled ``rejected`` at once (never ``pending``, so the outbox never sends it and the matcher
never sees it), with ``forged_by`` naming the contract that emitted it; the refund path
refuses any row with ``forged_by`` set (refunding it would send real money for nothing).
Claims naming no configured asset are ignored (counted): spam a person need not read.
"""

from __future__ import annotations

import json
from typing import Any

from anchor_dramatiq.db import utcnow
from anchor_dramatiq.models import Asset
from anchor_dramatiq.network.rpc_events import asset_contract
from anchor_dramatiq.vocabulary import PaymentOutcome


def configured_assets() -> list[tuple[str, str]]:
    """(code, issuer) of every asset the anchor has configured."""
    return [(a.code, a.issuer) for a in Asset.select(Asset.code, Asset.issuer).order_by(Asset.id)]


def rejected_claims(claims: list[dict[str, Any]], assets: list[tuple[str, str]],
                    passphrase: str) -> tuple[list[dict[str, Any]], int]:
    """The claims naming one of ``assets`` as rows settled ``rejected`` with the reason, and
    how many named none (ignored)."""
    rows, ignored = [], 0
    for claim in claims:
        code = claim["asset_code"]
        named = json.loads(claim["record_json"])["event"]["asset"]
        real = ([a for a in assets if f"{a[0]}:{a[1]}" == named]
                or [a for a in assets if a[0] == code])
        if not real:
            ignored += 1
            continue
        sacs = ", ".join(f"{c}:{i} is {_sac(c, i, passphrase)}" for c, i in real)
        reason = (f"forged: an event from contract {claim['forged_by']} claims to move {named}, "
                  f"but that asset's Stellar Asset Contract ({sacs}) did not emit it: nothing "
                  "of the asset arrived; never matched, never refunded")
        rows.append({**claim, "outcome": PaymentOutcome.REJECTED, "reason": reason,
                     "processed_at": utcnow()})
    return rows, ignored


def _sac(code: str, issuer: str, passphrase: str) -> str:
    found = asset_contract(f"{code}:{issuer}", passphrase)
    return found[1] if found is not None else "unknown (malformed asset)"


def record_claims(claims: list[dict[str, Any]], passphrase: str) -> tuple[list[dict[str, Any]], int]:
    """:func:`rejected_claims` against the configured assets (reads the database)."""
    if not claims:
        return [], 0
    return rejected_claims(claims, configured_assets(), passphrase)
