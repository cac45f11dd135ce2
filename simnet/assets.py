"""Asset and account-id conversions between stellar-sdk XDR and simnet's keys.

Inside the ledger an asset is the string ``"native"`` or ``"CODE:ISSUER"`` (cheap to hash and
to print); these helpers translate XDR objects into those keys and keys into Horizon fields.
"""

from __future__ import annotations

from stellar_sdk import Asset, MuxedAccount, xdr

from .strkeys import g_address

NATIVE = "native"


def account_id(acc: xdr.AccountID) -> str:
    """G strkey of an XDR AccountID."""
    return g_address(acc.account_id.ed25519.uint256)


def muxed(acc: xdr.MuxedAccount) -> tuple[str, str | None, int | None]:
    """(G address, M address or None, muxed id or None) of an XDR MuxedAccount."""
    if acc.type == xdr.CryptoKeyType.KEY_TYPE_ED25519:
        return g_address(acc.ed25519.uint256), None, None
    m = MuxedAccount.from_xdr_object(acc)
    return m.account_id, m.account_muxed, m.account_muxed_id


def _code_issuer(code: bytes, issuer: xdr.AccountID) -> str:
    text = code.rstrip(b"\0").decode("ascii")
    return f"{text}:{account_id(issuer)}"


def asset_key(asset: xdr.Asset | xdr.ChangeTrustAsset | xdr.TrustLineAsset) -> str:
    """``"native"`` or ``"CODE:ISSUER"`` (raises ValueError for pool shares)."""
    if asset.type == xdr.AssetType.ASSET_TYPE_NATIVE:
        return NATIVE
    if asset.type == xdr.AssetType.ASSET_TYPE_CREDIT_ALPHANUM4:
        return _code_issuer(asset.alpha_num4.asset_code.asset_code4, asset.alpha_num4.issuer)
    if asset.type == xdr.AssetType.ASSET_TYPE_CREDIT_ALPHANUM12:
        return _code_issuer(asset.alpha_num12.asset_code.asset_code12, asset.alpha_num12.issuer)
    raise ValueError("liquidity pool shares are not supported by simnet")


def key_for(code: str | None, issuer: str | None) -> str:
    """Asset key from a code and issuer; ``None``/``"XLM"`` without issuer means native."""
    if code is None or (issuer is None and code.upper() in ("XLM", NATIVE.upper())):
        return NATIVE
    if issuer is None:
        raise ValueError(f"asset {code} needs an issuer")
    return f"{code}:{issuer}"


def issuer_of(key: str) -> str | None:
    """The issuer G address of a credit asset key, None for native."""
    return None if key == NATIVE else key.split(":", 1)[1]


def is_valid_code(code: str) -> bool:
    """Core's rule: 1-12 alphanumerics (the XDR arm is checked separately)."""
    return 0 < len(code) <= 12 and code.isascii() and code.isalnum()


def to_sdk_asset(key: str) -> Asset:
    """stellar-sdk Asset for a key."""
    if key == NATIVE:
        return Asset.native()
    code, issuer = key.split(":", 1)
    return Asset(code, issuer)


def to_xdr_asset(key: str) -> xdr.Asset:
    """XDR Asset for a key (used in result XDR)."""
    return to_sdk_asset(key).to_xdr_object()


def asset_fields(key: str, prefix: str = "") -> dict[str, str]:
    """Horizon's ``asset_type``/``asset_code``/``asset_issuer`` (optionally prefixed) fields."""
    if key == NATIVE:
        return {f"{prefix}asset_type": "native"}
    code, issuer = key.split(":", 1)
    kind = "credit_alphanum4" if len(code) <= 4 else "credit_alphanum12"
    return {
        f"{prefix}asset_type": kind,
        f"{prefix}asset_code": code,
        f"{prefix}asset_issuer": issuer,
    }



def is_valid_asset(asset: xdr.Asset | xdr.ChangeTrustAsset) -> bool:
    """Core's asset checks: a code of 1-4 (or 5-12) alphanumerics, zero-padded on the right."""
    if asset.type == xdr.AssetType.ASSET_TYPE_NATIVE:
        return True
    if asset.type == xdr.AssetType.ASSET_TYPE_CREDIT_ALPHANUM4:
        raw, low, high = asset.alpha_num4.asset_code.asset_code4, 1, 4
    elif asset.type == xdr.AssetType.ASSET_TYPE_CREDIT_ALPHANUM12:
        raw, low, high = asset.alpha_num12.asset_code.asset_code12, 5, 12
    else:
        return False
    code = raw.rstrip(b"\0")
    if b"\0" in code or not low <= len(code) <= high:
        return False
    return is_valid_code(code.decode("ascii", errors="replace"))
