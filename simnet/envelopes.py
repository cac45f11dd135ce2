"""Decoding submitted envelopes and computing their hashes with stellar-sdk's XDR.

The hash depends on the network passphrase, so an envelope signed for another network decodes
fine here but its signatures do not match: core then says tx_bad_auth, and so does simnet.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from stellar_sdk import xdr
from xdrlib3 import Unpacker

from .assets import muxed
from .fastxdr import decode_common

EnvType = xdr.EnvelopeType


class MalformedEnvelope(ValueError):
    """The body is not a base64 XDR TransactionEnvelope (Horizon: transaction_malformed)."""


@dataclass
class Envelope:
    """A decoded envelope; for a fee bump the ``tx`` fields describe the inner transaction."""

    envelope_xdr: str
    env: xdr.TransactionEnvelope
    hash: bytes  # the outer hash: what Horizon calls ``hash`` and ``id``
    inner_hash: bytes | None  # only for fee bumps
    tx: xdr.Transaction
    signatures: list[xdr.DecoratedSignature]
    source: str
    source_muxed: str | None
    source_muxed_id: int | None
    seq: int
    fee: int  # the inner transaction's max fee
    ops: list[xdr.Operation]
    fee_source: str
    fee_source_muxed: str | None
    fee_source_muxed_id: int | None
    outer_fee: int | None
    outer_signatures: list[xdr.DecoratedSignature]

    @property
    def hash_hex(self) -> str:
        return self.hash.hex()

    @property
    def tx_hash(self) -> bytes:
        """Hash the inner signatures are made over (the only hash for plain transactions)."""
        return self.inner_hash or self.hash

    @property
    def is_fee_bump(self) -> bool:
        return self.inner_hash is not None

    @property
    def max_fee(self) -> int:
        """The fee bid: the outer fee for a fee bump."""
        return self.outer_fee if self.outer_fee is not None else self.fee

    @property
    def fee_ops(self) -> int:
        """Operations the fee pays for (a fee bump pays for one more)."""
        return len(self.ops) + (1 if self.is_fee_bump else 0)

    @property
    def time_bounds(self) -> tuple[int, int] | None:
        cond = self.tx.cond
        if cond.type == xdr.PreconditionType.PRECOND_TIME:
            tb = cond.time_bounds
        elif cond.type == xdr.PreconditionType.PRECOND_V2:
            tb = cond.v2.time_bounds
        else:
            return None
        return (tb.min_time.time_point.uint64, tb.max_time.time_point.uint64) if tb else None

    @property
    def v2(self) -> xdr.PreconditionsV2 | None:
        cond = self.tx.cond
        return cond.v2 if cond.type == xdr.PreconditionType.PRECOND_V2 else None


def network_id(passphrase: str) -> bytes:
    return hashlib.sha256(passphrase.encode()).digest()


def _tx_hash(net: bytes, tx: xdr.Transaction) -> bytes:
    payload = xdr.TransactionSignaturePayload(
        network_id=xdr.Hash(net),
        tagged_transaction=xdr.TransactionSignaturePayloadTaggedTransaction(
            type=EnvType.ENVELOPE_TYPE_TX, tx=tx),
    )
    return hashlib.sha256(payload.to_xdr_bytes()).digest()


def _tx_hash_from_raw(net: bytes, raw: bytes, sigs: list[xdr.DecoratedSignature]) -> bytes:
    """Same hash as ``_tx_hash`` for a v1 envelope, from the submitted bytes (no re-encoding):
    the envelope is its 4-byte type, the transaction, then the signatures."""
    sig_bytes = 4 + sum(8 + (len(s.signature.signature) + 3) // 4 * 4 for s in sigs)
    tx_bytes = raw[4:len(raw) - sig_bytes]
    return hashlib.sha256(net + raw[:4] + tx_bytes).digest()


def _fee_bump_hash(net: bytes, fb: xdr.FeeBumpTransaction) -> bytes:
    payload = xdr.TransactionSignaturePayload(
        network_id=xdr.Hash(net),
        tagged_transaction=xdr.TransactionSignaturePayloadTaggedTransaction(
            type=EnvType.ENVELOPE_TYPE_TX_FEE_BUMP, fee_bump=fb),
    )
    return hashlib.sha256(payload.to_xdr_bytes()).digest()


def _v0_to_v1(v0: xdr.TransactionV0) -> xdr.Transaction:
    """Core hashes a v0 envelope as the equivalent v1 transaction."""
    if v0.time_bounds is None:
        cond = xdr.Preconditions(type=xdr.PreconditionType.PRECOND_NONE)
    else:
        cond = xdr.Preconditions(type=xdr.PreconditionType.PRECOND_TIME,
                                 time_bounds=v0.time_bounds)
    return xdr.Transaction(
        source_account=xdr.MuxedAccount(type=xdr.CryptoKeyType.KEY_TYPE_ED25519,
                                        ed25519=v0.source_account_ed25519),
        fee=v0.fee, seq_num=v0.seq_num, cond=cond, memo=v0.memo,
        operations=v0.operations, ext=xdr.TransactionExt(0),
    )


def decode(envelope_xdr: str, passphrase: str) -> Envelope:
    """Decode a base64 envelope; raises MalformedEnvelope when it cannot be read."""
    text = "".join(envelope_xdr.split())
    try:
        raw = base64.b64decode(text, validate=True)
        env = decode_common(raw)
        if env is None:
            unpacker = Unpacker(raw)
            env = xdr.TransactionEnvelope.unpack(unpacker)
            unpacker.done()  # raises on trailing bytes
    except Exception as exc:  # base64, xdrlib3 and enum errors all mean "cannot decode"
        raise MalformedEnvelope(str(exc)) from exc
    net = network_id(passphrase)
    outer_fee, outer_sigs, inner_hash = None, [], None
    if env.type == EnvType.ENVELOPE_TYPE_TX_V0:
        tx, sigs = _v0_to_v1(env.v0.tx), env.v0.signatures
        tx_hash = _tx_hash(net, tx)
    elif env.type == EnvType.ENVELOPE_TYPE_TX:
        tx, sigs = env.v1.tx, env.v1.signatures
        tx_hash = _tx_hash_from_raw(net, raw, sigs)
    else:
        fb = env.fee_bump.tx
        tx, sigs = fb.inner_tx.v1.tx, fb.inner_tx.v1.signatures
        inner_hash = _tx_hash(net, tx)
        tx_hash = _fee_bump_hash(net, fb)
        outer_fee, outer_sigs = fb.fee.int64, env.fee_bump.signatures
    source, source_m, source_id = muxed(tx.source_account)
    if inner_hash is None:
        fee_source, fee_m, fee_id = source, source_m, source_id
    else:
        fee_source, fee_m, fee_id = muxed(env.fee_bump.tx.fee_source)
    return Envelope(
        envelope_xdr=text, env=env, hash=tx_hash, inner_hash=inner_hash, tx=tx,
        signatures=sigs, source=source, source_muxed=source_m, source_muxed_id=source_id,
        seq=tx.seq_num.sequence_number.int64, fee=tx.fee.uint32, ops=tx.operations,
        fee_source=fee_source, fee_source_muxed=fee_m, fee_source_muxed_id=fee_id,
        outer_fee=outer_fee, outer_signatures=outer_sigs,
    )
