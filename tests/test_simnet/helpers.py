"""Transaction-building helpers shared by the simnet tests."""

from __future__ import annotations

from stellar_sdk import Asset, Keypair, Server, TransactionBuilder
from stellar_sdk.transaction_envelope import TransactionEnvelope


def build(server: Server, passphrase: str, source: Keypair, *ops, signers=None,
          fee: int = 100, memo: str | None = None, timeout: int = 30) -> TransactionEnvelope:
    """Load ``source``, add ``ops`` (callables taking the builder), sign and return."""
    builder = TransactionBuilder(server.load_account(source.public_key), passphrase, fee)
    for op in ops:
        op(builder)
    if memo is not None:
        builder.add_text_memo(memo)
    tx = builder.set_timeout(timeout).build()
    for kp in signers or [source]:
        tx.sign(kp)
    return tx


def pay(dest: str, amount: str, asset: Asset | None = None):
    return lambda b: b.append_payment_op(dest, asset or Asset.native(), amount)


def trust(asset: Asset, limit: str | None = None):
    return lambda b: b.append_change_trust_op(asset, limit)


def issue(server: Server, passphrase: str, issuer: Keypair, holder: Keypair, code: str,
          amount: str, limit: str | None = None) -> Asset:
    """holder trusts CODE:issuer (optionally with a limit) and receives ``amount``."""
    asset = Asset(code, issuer.public_key)
    server.submit_transaction(build(server, passphrase, holder, trust(asset, limit)))
    if amount:
        server.submit_transaction(build(server, passphrase, issuer,
                                        pay(holder.public_key, amount, asset)))
    return asset
