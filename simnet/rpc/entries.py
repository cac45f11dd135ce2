"""``getLedgerEntries``: account, trustline and data entries as the XDR core stores them.

Each answer entry carries the requested key, the ``LedgerEntryData`` XDR, the entry's
``lastModifiedLedgerSeq`` and its ``LedgerEntryExt`` (``extXdr``); classic entries have no
``liveUntilLedgerSeq``. Keys that name nothing are left out, as stellar-rpc does; other entry
types (offers, pools, Soroban state, claimable balances) are not kept by simnet and are
never found.
"""

from __future__ import annotations

import base64
from typing import Any

from stellar_sdk import SignerKey, StrKey, xdr

from ..assets import NATIVE, account_id, asset_key
from ..ledger import Account, LedgerState
from ..strkeys import xdr_account_id
from .protocol import INVALID_PARAMS, RpcError

MAX_KEYS = 200  # stellar-rpc's getLedgerEntriesMaxKeys
L = xdr.LedgerEntryType


def _signer_key(strkey: str) -> xdr.SignerKey:
    if strkey.startswith("G"):
        return SignerKey.ed25519_public_key(strkey).to_xdr_object()
    if strkey.startswith("T"):
        return SignerKey.pre_auth_tx(StrKey.decode_pre_auth_tx(strkey)).to_xdr_object()
    return SignerKey.sha256_hash(StrKey.decode_sha256_hash(strkey)).to_xdr_object()


def account_entry(acc: Account) -> xdr.AccountEntry:
    """Core's AccountEntry; the v2/v3 extensions when sponsoring or a sequence ledger exist."""
    signers = sorted((xdr.Signer(_signer_key(k), xdr.Uint32(w)) for k, w in acc.signers.items()),
                     key=lambda s: s.key.to_xdr_bytes())
    ext = xdr.AccountEntryExt(0)
    if acc.num_sponsoring or acc.seq_ledger:
        v3 = xdr.AccountEntryExtensionV2Ext(0)
        if acc.seq_ledger:
            v3 = xdr.AccountEntryExtensionV2Ext(3, xdr.AccountEntryExtensionV3(
                xdr.ExtensionPoint(0), xdr.Uint32(acc.seq_ledger),
                xdr.TimePoint(xdr.Uint64(acc.seq_time))))
        v2 = xdr.AccountEntryExtensionV2(xdr.Uint32(0), xdr.Uint32(acc.num_sponsoring),
                                         [xdr.SponsorshipDescriptor(None)] * len(signers), v3)
        ext = xdr.AccountEntryExt(1, xdr.AccountEntryExtensionV1(
            xdr.Liabilities(xdr.Int64(0), xdr.Int64(0)), xdr.AccountEntryExtensionV1Ext(2, v2)))
    return xdr.AccountEntry(
        account_id=xdr_account_id(acc.account_id), balance=xdr.Int64(acc.balance),
        seq_num=xdr.SequenceNumber(xdr.Int64(acc.seq)),
        num_sub_entries=xdr.Uint32(acc.subentries),
        inflation_dest=xdr_account_id(acc.inflation_dest) if acc.inflation_dest else None,
        flags=xdr.Uint32(acc.flags), home_domain=xdr.String32(acc.home_domain.encode()),
        thresholds=xdr.Thresholds(bytes([acc.master_weight, acc.low_threshold,
                                         acc.med_threshold, acc.high_threshold])),
        signers=signers, ext=ext)


def _lookup(state: LedgerState, key: xdr.LedgerKey) -> tuple[xdr.LedgerEntryData, int] | None:
    """The entry a key names and its last-modified ledger, or None."""
    if key.type == L.ACCOUNT:
        acc = state.account(account_id(key.account.account_id))
        if acc is None:
            return None
        return xdr.LedgerEntryData(L.ACCOUNT, account=account_entry(acc)), \
            acc.last_modified_ledger
    if key.type == L.TRUSTLINE:
        holder = account_id(key.trust_line.account_id)
        acc = state.account(holder)
        if key.trust_line.asset.type == xdr.AssetType.ASSET_TYPE_POOL_SHARE:
            return None
        asset = asset_key(key.trust_line.asset)
        line = acc.trustlines.get(asset) if acc is not None and asset != NATIVE else None
        if line is None:
            return None
        return xdr.LedgerEntryData(L.TRUSTLINE, trust_line=xdr.TrustLineEntry(
            account_id=key.trust_line.account_id, asset=key.trust_line.asset,
            balance=xdr.Int64(line.balance), limit=xdr.Int64(line.limit),
            flags=xdr.Uint32(line.flags), ext=xdr.TrustLineEntryExt(0))), \
            line.last_modified_ledger
    if key.type == L.DATA:
        acc = state.account(account_id(key.data.account_id))
        name = key.data.data_name.string64.decode("ascii", errors="replace")
        if acc is None or name not in acc.data:
            return None
        return xdr.LedgerEntryData(L.DATA, data=xdr.DataEntry(
            key.data.account_id, key.data.data_name, xdr.DataValue(acc.data[name]),
            xdr.DataEntryExt(0))), acc.last_modified_ledger
    return None


def get_ledger_entries(state: LedgerState, keys: list[str]) -> list[dict[str, Any]]:
    """Answer entries for base64 LedgerKeys, in request order; -32602 as stellar-rpc."""
    if len(keys) > MAX_KEYS:
        raise RpcError(INVALID_PARAMS,
                       f"key count ({len(keys)}) exceeds maximum supported ({MAX_KEYS})")
    decoded = []
    for i, text in enumerate(keys):
        try:
            key = xdr.LedgerKey.from_xdr(text)
        except Exception:  # base64, xdrlib3 and enum errors all mean "cannot decode"
            raise RpcError(INVALID_PARAMS,
                           f"cannot unmarshal key value {text} at index {i}") from None
        if key.type == L.TTL:
            raise RpcError(INVALID_PARAMS, "ledger ttl entries cannot be queried directly")
        decoded.append((text, key))
    out = []
    for text, key in decoded:
        found = _lookup(state, key)
        if found is None:
            continue
        data, modified = found
        out.append({
            "key": text,
            "xdr": base64.b64encode(data.to_xdr_bytes()).decode(),
            "lastModifiedLedgerSeq": modified,
            "extXdr": xdr.LedgerEntryExt(0).to_xdr(),
        })
    return out
