"""The node and ledger methods: getHealth, getNetwork, getLatestLedger, getFeeStats and
getLedgerEntries, shaped as stellar-rpc's Go structs encode them (some numbers are JSON
strings there: ``closeTime``, the fee percentiles, ``transactionCount``)."""

from __future__ import annotations

import base64
import time
from typing import Any

from stellar_sdk import xdr

from ..network import PROTOCOL_VERSION
from .entries import get_ledger_entries
from .protocol import INTERNAL_ERROR, RpcError, check_format, strings
from .window import Call, ledger_transactions

HEALTHY_LATENCY = 30.0  # stellar-rpc's max-healthy-ledger-latency default, seconds
CLASSIC_FEE_WINDOW = 10  # classic-fee-stats-retention-window, ledgers
PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99)


def get_health(call: Call) -> dict[str, Any]:
    """healthy, unless the latest ledger closed too long ago (then -32603, as stellar-rpc)."""
    latest = call.view.latest
    allowed = max(HEALTHY_LATENCY, 3 * call.state.net.ledger_interval)
    latency = time.time() - latest.closed_at
    if latency > allowed:
        raise RpcError(INTERNAL_ERROR, f"latency ({round(latency)}s) since last known ledger "
                                       f"closed is too high (>{allowed:g}s)")
    return {
        "status": "healthy",
        "latestLedger": latest.sequence,
        "latestLedgerCloseTime": latest.closed_at,
        "oldestLedger": call.view.oldest.sequence,
        "ledgerRetentionWindow": call.state.retention,
    }


def get_network(call: Call) -> dict[str, Any]:
    return {
        "friendbotUrl": f"{call.base_url}/friendbot",
        "passphrase": call.state.net.passphrase,
        "protocolVersion": PROTOCOL_VERSION,
    }


def get_latest_ledger(call: Call) -> dict[str, Any]:
    """``metadataXdr`` is a LedgerCloseMeta carrying the header and an empty transaction set
    (simnet keeps no ledger close meta)."""
    latest = call.view.latest
    header = xdr.LedgerHeader.from_xdr(latest.header_xdr)
    meta = xdr.LedgerCloseMeta(0, v0=xdr.LedgerCloseMetaV0(
        ledger_header=xdr.LedgerHeaderHistoryEntry(
            xdr.Hash(bytes.fromhex(latest.hash)), header, xdr.LedgerHeaderHistoryEntryExt(0)),
        tx_set=xdr.TransactionSet(xdr.Hash(bytes.fromhex(latest.prev_hash)), []),
        tx_processing=[], upgrades_processing=[], scp_info=[]))
    return {
        "id": latest.hash,
        "protocolVersion": PROTOCOL_VERSION,
        "sequence": latest.sequence,
        "closeTime": str(latest.closed_at),
        "headerXdr": latest.header_xdr,
        "metadataXdr": base64.b64encode(meta.to_xdr_bytes()).decode(),
    }


def distribution(fees: list[int], ledgers: int) -> dict[str, Any]:
    """stellar-rpc's FeeDistribution: nearest-rank percentiles, the longest run as mode; all
    zero (ledgerCount too) when there were no fees."""
    if not fees:
        fees, ledgers = [0], 0
        count = 0
    else:
        fees = sorted(fees)
        count = len(fees)
    mode, best, run = fees[0], 0, 0
    for prev, cur in zip(fees, fees[1:], strict=False):
        run = run + 1 if cur == prev else 0
        if run > best:
            best, mode = run, cur
    size = len(fees)
    out: dict[str, Any] = {"max": str(fees[-1]), "min": str(fees[0]), "mode": str(mode)}
    for p in PERCENTILES:
        out[f"p{p}"] = str(fees[(p * size + 99) // 100 - 1])
    out["transactionCount"] = str(count)
    out["ledgerCount"] = ledgers
    return out


def get_fee_stats(call: Call) -> dict[str, Any]:
    """Classic inclusion fees (fee charged per operation) over the last 10 ledgers; simnet
    runs no Soroban transactions, so their distribution is empty."""
    latest = call.view.latest.sequence
    first = max(1, latest - CLASSIC_FEE_WINDOW + 1)
    fees = [rec.fee_charged // len(rec.env.ops)
            for seq in range(first, latest + 1)
            for rec in ledger_transactions(call.state.net, seq)]
    return {
        "sorobanInclusionFee": distribution([], 0),
        "inclusionFee": distribution(fees, latest - first + 1),
        "latestLedger": latest,
    }


def ledger_entries(call: Call) -> dict[str, Any]:
    check_format(call.params)
    return {
        "entries": get_ledger_entries(call.state.net.state, strings(call.params, "keys")),
        "latestLedger": call.view.latest.sequence,
    }
