"""A fast decoder for the commonest envelope shape, equal to stellar-sdk's own decoding.

stellar-sdk's XDR classes unpack field by field through ~150 Python calls per payment
transaction, the largest share of simnet's admission cost. Almost every envelope an anchor
submits is a v1 transaction from a G account with payment operations, so that shape is read
here with ``struct`` and built into the very same ``stellar_sdk.xdr`` objects. Anything else
(fee bumps, v0, muxed accounts, other operations, preconditions v2, odd lengths) returns None
and goes through stellar-sdk, which also produces every decoding error. Tests check that both
decoders give equal objects.
"""

from __future__ import annotations

import struct

from stellar_sdk import xdr

_U32 = struct.Struct(">I").unpack_from
_I64 = struct.Struct(">q").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_MAX_OPS = 100
_MAX_SIGNATURES = 20

_ED25519 = xdr.CryptoKeyType.KEY_TYPE_ED25519
_PUBLIC_KEY_ED25519 = xdr.PublicKeyType.PUBLIC_KEY_TYPE_ED25519
_PAYMENT = xdr.OperationType.PAYMENT
_ASSETS = (xdr.AssetType.ASSET_TYPE_NATIVE, xdr.AssetType.ASSET_TYPE_CREDIT_ALPHANUM4,
           xdr.AssetType.ASSET_TYPE_CREDIT_ALPHANUM12)
_MEMOS = (xdr.MemoType.MEMO_NONE, xdr.MemoType.MEMO_TEXT, xdr.MemoType.MEMO_ID,
          xdr.MemoType.MEMO_HASH, xdr.MemoType.MEMO_RETURN)


class _Miss(Exception):
    """Not the common shape: leave it to stellar-sdk."""


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def u32(self) -> int:
        value = _U32(self.buf, self.pos)[0]
        self.pos += 4
        return value

    def i64(self) -> int:
        value = _I64(self.buf, self.pos)[0]
        self.pos += 8
        return value

    def u64(self) -> int:
        value = _U64(self.buf, self.pos)[0]
        self.pos += 8
        return value

    def fixed(self, size: int) -> bytes:
        end = self.pos + (size + 3) // 4 * 4
        if end > len(self.buf):
            raise _Miss
        data = self.buf[self.pos:self.pos + size]
        self.pos = end
        return data

    def var(self, max_size: int) -> bytes:
        size = self.u32()
        if size > max_size:
            raise _Miss
        return self.fixed(size)

    def muxed(self) -> xdr.MuxedAccount:
        if self.u32() != 0:
            raise _Miss
        return xdr.MuxedAccount(type=_ED25519, ed25519=xdr.Uint256(self.fixed(32)))

    def account_id(self) -> xdr.AccountID:
        if self.u32() != 0:
            raise _Miss
        return xdr.AccountID(xdr.PublicKey(type=_PUBLIC_KEY_ED25519,
                                           ed25519=xdr.Uint256(self.fixed(32))))

    def asset(self) -> xdr.Asset:
        kind = self.u32()
        if kind == 0:
            return xdr.Asset(type=_ASSETS[0])
        if kind == 1:
            code = xdr.AssetCode4(self.fixed(4))
            return xdr.Asset(type=_ASSETS[1],
                             alpha_num4=xdr.AlphaNum4(asset_code=code, issuer=self.account_id()))
        if kind == 2:
            code12 = xdr.AssetCode12(self.fixed(12))
            return xdr.Asset(type=_ASSETS[2], alpha_num12=xdr.AlphaNum12(
                asset_code=code12, issuer=self.account_id()))
        raise _Miss

    def preconditions(self) -> xdr.Preconditions:
        kind = self.u32()
        if kind == 0:
            return xdr.Preconditions(type=xdr.PreconditionType.PRECOND_NONE)
        if kind == 1:
            low, high = self.u64(), self.u64()
            return xdr.Preconditions(type=xdr.PreconditionType.PRECOND_TIME,
                                     time_bounds=xdr.TimeBounds(
                                         min_time=xdr.TimePoint(xdr.Uint64(low)),
                                         max_time=xdr.TimePoint(xdr.Uint64(high))))
        raise _Miss

    def memo(self) -> xdr.Memo:
        kind = self.u32()
        if kind == 0:
            return xdr.Memo(type=_MEMOS[0])
        if kind == 1:
            return xdr.Memo(type=_MEMOS[1], text=self.var(28))
        if kind == 2:
            return xdr.Memo(type=_MEMOS[2], id=xdr.Uint64(self.u64()))
        if kind == 3:
            return xdr.Memo(type=_MEMOS[3], hash=xdr.Hash(self.fixed(32)))
        if kind == 4:
            return xdr.Memo(type=_MEMOS[4], ret_hash=xdr.Hash(self.fixed(32)))
        raise _Miss

    def operation(self) -> xdr.Operation:
        has_source = self.u32()
        if has_source > 1:
            raise _Miss
        source = self.muxed() if has_source else None
        if self.u32() != _PAYMENT:
            raise _Miss
        payment = xdr.PaymentOp(destination=self.muxed(), asset=self.asset(),
                                amount=xdr.Int64(self.i64()))
        return xdr.Operation(source_account=source,
                             body=xdr.OperationBody(type=_PAYMENT, payment_op=payment))

    def transaction(self) -> xdr.Transaction:
        source = self.muxed()
        fee = xdr.Uint32(self.u32())
        seq = xdr.SequenceNumber(xdr.Int64(self.i64()))
        cond = self.preconditions()
        memo = self.memo()
        count = self.u32()
        if not 0 < count <= _MAX_OPS:
            raise _Miss
        operations = [self.operation() for _ in range(count)]
        if self.u32() != 0:
            raise _Miss
        return xdr.Transaction(source_account=source, fee=fee, seq_num=seq, cond=cond,
                               memo=memo, operations=operations, ext=xdr.TransactionExt(0))

    def envelope(self) -> xdr.TransactionEnvelope:
        if self.u32() != xdr.EnvelopeType.ENVELOPE_TYPE_TX:
            raise _Miss
        tx = self.transaction()
        count = self.u32()
        if count > _MAX_SIGNATURES:
            raise _Miss
        signatures = [xdr.DecoratedSignature(hint=xdr.SignatureHint(self.fixed(4)),
                                             signature=xdr.Signature(self.var(64)))
                      for _ in range(count)]
        if self.pos != len(self.buf):
            raise _Miss
        return xdr.TransactionEnvelope(type=xdr.EnvelopeType.ENVELOPE_TYPE_TX,
                                       v1=xdr.TransactionV1Envelope(tx=tx, signatures=signatures))


def decode_common(raw: bytes) -> xdr.TransactionEnvelope | None:
    """The envelope if ``raw`` is a v1 payment transaction from G accounts, else None."""
    try:
        return _Reader(raw).envelope()
    except (_Miss, struct.error):
        return None
