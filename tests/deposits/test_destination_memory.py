"""The destination accounts a batch remembers (10 s per process) against the positive-evidence
rule: only "exists and trusts" is served from memory; a stale one fails safely in the ledger."""

from __future__ import annotations

from anchor_dramatiq.deposits.destination import destination_key, load_destinations


def test_no_trustline_is_never_served_from_memory(anchor):
    wallet = anchor.wallet(trust=False)
    deposit = anchor.deposit(wallet.public_key, "4", claimable_balance_supported=True)
    (before,) = load_destinations(anchor.network(), [deposit]).values()
    assert before.exists and not before.trusts
    anchor.submit(wallet, lambda b: b.append_change_trust_op(anchor.sdk_asset))
    # Within the 10 s: a remembered "no trustline" would pay a claimable balance.
    after = load_destinations(anchor.network(), [deposit])[destination_key(deposit)]
    assert after.exists and after.trusts
