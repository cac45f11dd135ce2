"""Account keys: G strkeys <-> raw ed25519 bytes, cached both ways, and signature checks.

Every submission names its accounts as raw XDR bytes while the ledger is keyed by G strkeys;
strkey encoding and decoding (base32 and a CRC in pure Python) would otherwise run several
times per transaction. Encoding a key remembers the reverse mapping, so a signer found in the
ledger never needs decoding again.
"""

from __future__ import annotations

import nacl.bindings
from nacl.exceptions import BadSignatureError
from stellar_sdk import StrKey, xdr

_MAX_CACHED = 1_000_000
_address_of: dict[bytes, str] = {}
_raw_of: dict[str, bytes] = {}


def _remember(raw: bytes, address: str) -> None:
    if len(_address_of) >= _MAX_CACHED:
        _address_of.clear()
        _raw_of.clear()
    _address_of[raw] = address
    _raw_of[address] = raw


def g_address(raw: bytes) -> str:
    """The G strkey of a raw ed25519 public key."""
    address = _address_of.get(raw)
    if address is None:
        address = StrKey.encode_ed25519_public_key(raw)
        _remember(raw, address)
    return address


def raw_key(address: str) -> bytes:
    """Raw ed25519 bytes of a G strkey (raises ValueError when it is not one)."""
    raw = _raw_of.get(address)
    if raw is None:
        raw = StrKey.decode_ed25519_public_key(address)
        _remember(raw, address)
    return raw


def xdr_account_id(address: str) -> xdr.AccountID:
    """XDR AccountID of a G strkey."""
    return xdr.AccountID(xdr.PublicKey(xdr.PublicKeyType.PUBLIC_KEY_TYPE_ED25519,
                                       xdr.Uint256(raw_key(address))))


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification of a detached signature (a wrong-length one simply fails)."""
    if len(signature) != nacl.bindings.crypto_sign_BYTES:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except BadSignatureError:
        return False
    return True
