"""Account and trustline reads over RPC ``getLedgerEntries``: keys built and entries decoded
with stellar-sdk's XDR, up to the method's key limit per request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stellar_sdk import Asset, Keypair, SignerKey, xdr

from anchor_dramatiq.network.answers import AccountAnswer, AccountMissing, AccountState, Signer, Trustline
from anchor_dramatiq.network.common import AUTHORIZED, AUTHORIZED_TO_MAINTAIN, stroops_to_amount
from anchor_dramatiq.network.interface import AssetKey

MAX_KEYS = 200  # getLedgerEntries' limit per request


def account_key(account_id: str) -> str:
    return xdr.LedgerKey(
        type=xdr.LedgerEntryType.ACCOUNT,
        account=xdr.LedgerKeyAccount(Keypair.from_public_key(account_id).xdr_account_id()),
    ).to_xdr()


def trustline_key(account_id: str, asset: AssetKey) -> str:
    return xdr.LedgerKey(
        type=xdr.LedgerEntryType.TRUSTLINE,
        trust_line=xdr.LedgerKeyTrustLine(
            Keypair.from_public_key(account_id).xdr_account_id(),
            Asset(*asset).to_trust_line_asset_xdr_object()),
    ).to_xdr()


def batches(account_ids: Sequence[str], assets: Sequence[AssetKey]) -> list[list[str]]:
    """Accounts grouped so that each group's keys (account + its trustlines) fit one request;
    an account's keys are answered together, at one ledger."""
    per_account = 1 + len(assets)
    if per_account > MAX_KEYS:
        raise ValueError(f"at most {MAX_KEYS - 1} assets per account read")
    size = MAX_KEYS // per_account
    return [list(account_ids[i:i + size]) for i in range(0, len(account_ids), size)]


def keys_for(account_ids: Sequence[str], assets: Sequence[AssetKey]) -> list[xdr.LedgerKey]:
    keys = []
    for account in account_ids:
        keys.append(account_key(account))
        keys.extend(trustline_key(account, asset) for asset in assets)
    return [xdr.LedgerKey.from_xdr(key) for key in keys]


def decode(account_ids: Sequence[str], assets: Sequence[AssetKey], entries: dict[str, Any],
           latest_ledger: int) -> dict[str, AccountAnswer]:
    """``entries``: key XDR -> the answered entry (``xdr``, ``last_modified_ledger``)."""
    out: dict[str, AccountAnswer] = {}
    for account in account_ids:
        entry = entries.get(account_key(account))
        if entry is None:
            out[account] = AccountMissing(account, latest_ledger)
            continue
        lines = []
        for asset in assets:
            line = entries.get(trustline_key(account, asset))
            if line is not None:
                lines.append(_trustline(asset, xdr.LedgerEntryData.from_xdr(line.xdr).trust_line))
        out[account] = _account(account, xdr.LedgerEntryData.from_xdr(entry.xdr).account,
                                entry.last_modified_ledger, tuple(lines), latest_ledger)
    return out


def _account(account_id: str, data: Any, last_modified: int, lines: tuple[Trustline, ...],
             latest_ledger: int) -> AccountState:
    thresholds = data.thresholds.thresholds
    signers = tuple(Signer(_signer_key(s.key), s.weight.uint32) for s in data.signers)
    return AccountState(account_id, data.seq_num.sequence_number.int64,
                        stroops_to_amount(data.balance.int64),
                        (thresholds[0], thresholds[1], thresholds[2], thresholds[3]), signers,
                        lines, last_modified, _sequence_ledger(data), latest_ledger)


def _sequence_ledger(data: Any) -> int | None:
    """AccountEntryExtensionV3's ``seqLedger``, when the account has one."""
    v1 = data.ext.v1 if data.ext.v == 1 else None
    v2 = v1.ext.v2 if v1 is not None and v1.ext.v == 2 else None
    v3 = v2.ext.v3 if v2 is not None and v2.ext.v == 3 else None
    return v3.seq_ledger.uint32 if v3 is not None else None


def _signer_key(key: xdr.SignerKey) -> str:
    return SignerKey.from_xdr_object(key).encoded_signer_key


def _trustline(asset: AssetKey, line: Any) -> Trustline:
    flags = line.flags.uint32
    return Trustline(asset[0], asset[1], stroops_to_amount(line.balance.int64),
                     stroops_to_amount(line.limit.int64), bool(flags & AUTHORIZED),
                     bool(flags & AUTHORIZED_TO_MAINTAIN))
