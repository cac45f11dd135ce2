"""The fast envelope decoder gives exactly what stellar-sdk's decoder gives, or steps aside."""

from __future__ import annotations

import random

from stellar_sdk import Account, Asset, Keypair, MuxedAccount, TransactionBuilder, xdr

from simnet.fastxdr import decode_common

PASSPHRASE = "Standalone Network ; February 2017"


def _builder(source: Keypair, **kw: object) -> TransactionBuilder:
    return TransactionBuilder(Account(source.public_key, 123 << 32), PASSPHRASE, 100, **kw)


def _common_envelopes() -> list[bytes]:
    """Payment transactions in every variation the fast path covers."""
    rng = random.Random(7)
    src, dest, issuer = Keypair.random(), Keypair.random(), Keypair.random()
    usd, long_code = Asset("USD", issuer.public_key), Asset("LONGCODE12AB", issuer.public_key)
    out = []
    for memo in ("none", "text", "empty_text", "id", "hash", "return"):
        for timeout in (None, 300):
            b = _builder(src)
            if memo == "text":
                b.add_text_memo("x" * rng.randint(1, 28))
            elif memo == "empty_text":
                b.add_text_memo("")
            elif memo == "id":
                b.add_id_memo(rng.randint(0, 2**64 - 1))
            elif memo == "hash":
                b.add_hash_memo(bytes(rng.getrandbits(8) for _ in range(32)))
            elif memo == "return":
                b.add_return_hash_memo(bytes(rng.getrandbits(8) for _ in range(32)))
            for i, asset in enumerate((Asset.native(), usd, long_code)):
                b.append_payment_op(dest.public_key, asset, f"{i + 1}.0000001",
                                    source=issuer.public_key if i == 1 else None)
            tx = b.set_timeout(timeout).build() if timeout else b.add_time_bounds(0, 0).build()
            for signer in (src, issuer)[: 1 + memo.count("t")]:
                tx.sign(signer)
            out.append(tx.to_xdr_object().to_xdr_bytes())
    big = _builder(src)
    for _ in range(100):
        big.append_payment_op(dest.public_key, Asset.native(), "1")
    tx = big.set_timeout(30).build()
    out.append(tx.to_xdr_object().to_xdr_bytes())  # unsigned: zero signatures
    return out


def _other_envelopes() -> list[bytes]:
    """Shapes left to stellar-sdk: other operations, muxed accounts, fee bumps, v2 conditions."""
    src, dest = Keypair.random(), Keypair.random()
    muxed = MuxedAccount(dest.public_key, 42).account_muxed
    cases = [
        _builder(src).append_create_account_op(dest.public_key, "10"),
        _builder(src).append_payment_op(muxed, Asset.native(), "1"),
        _builder(src).append_payment_op(dest.public_key, Asset.native(), "1")
        .set_ledger_bounds(0, 100),
    ]
    out = []
    for b in cases:
        tx = b.set_timeout(30).build()
        tx.sign(src)
        out.append(tx.to_xdr_object().to_xdr_bytes())
    inner = _builder(src).append_payment_op(dest.public_key, Asset.native(), "1")
    inner_tx = inner.set_timeout(30).build()
    inner_tx.sign(src)
    bump = TransactionBuilder.build_fee_bump_transaction(dest.public_key, 200, inner_tx,
                                                         PASSPHRASE)
    out.append(bump.to_xdr_object().to_xdr_bytes())
    return out


def test_common_envelopes_decode_equal_to_stellar_sdk() -> None:
    for raw in _common_envelopes():
        fast = decode_common(raw)
        assert fast is not None
        assert fast == xdr.TransactionEnvelope.from_xdr_bytes(raw)
        assert fast.to_xdr_bytes() == raw


def test_other_shapes_are_left_to_stellar_sdk() -> None:
    for raw in _other_envelopes():
        assert xdr.TransactionEnvelope.from_xdr_bytes(raw) is not None
        assert decode_common(raw) is None


def test_damaged_envelopes_never_decode_differently() -> None:
    """Flipped bytes and truncations: the fast path declines or agrees with stellar-sdk."""
    rng = random.Random(11)
    samples = _common_envelopes()
    for _ in range(3000):
        raw = bytearray(rng.choice(samples))
        if rng.random() < 0.2:
            raw = raw[: rng.randrange(len(raw))]
        else:
            for _ in range(rng.randint(1, 3)):
                raw[rng.randrange(len(raw))] = rng.getrandbits(8)
        fast = decode_common(bytes(raw))
        if fast is not None:
            assert fast == xdr.TransactionEnvelope.from_xdr_bytes(bytes(raw))
