"""Horizon's JSON resources, field for field (protocols/horizon in stellar/go).

int64 values are strings, ledgers and counts are numbers, optional fields are left out rather
than null, as Horizon's ``omitempty`` tags do. ``base`` is the server's origin for ``_links``.
"""

from __future__ import annotations

import base64
from typing import Any

from stellar_sdk import xdr

from .assets import NATIVE, account_id, asset_fields, asset_key, issuer_of, muxed
from .history import LedgerRecord, OpRecord, TxRecord
from .ledger import (
    AUTH_CLAWBACK_ENABLED,
    AUTH_IMMUTABLE,
    AUTH_REQUIRED,
    AUTH_REVOCABLE,
    TL_CLAWBACK_ENABLED,
    Account,
    ClaimableBalance,
)
from .network import PROTOCOL_VERSION
from .operations import signer_strkey
from .units import amount_str, iso_time

Json = dict[str, Any]
T = xdr.OperationType
EMPTY_CHANGES = xdr.LedgerEntryChanges([]).to_xdr()
HORIZON_VERSION = "simnet-2.31.0"
CORE_VERSION = "stellar-core 21.1.0 (simnet)"

_TYPE_NAMES = {
    T.CREATE_ACCOUNT: "create_account",
    T.PAYMENT: "payment",
    T.PATH_PAYMENT_STRICT_RECEIVE: "path_payment_strict_receive",
    T.MANAGE_SELL_OFFER: "manage_sell_offer",
    T.CREATE_PASSIVE_SELL_OFFER: "create_passive_sell_offer",
    T.SET_OPTIONS: "set_options",
    T.CHANGE_TRUST: "change_trust",
    T.ALLOW_TRUST: "allow_trust",
    T.ACCOUNT_MERGE: "account_merge",
    T.INFLATION: "inflation",
    T.MANAGE_DATA: "manage_data",
    T.BUMP_SEQUENCE: "bump_sequence",
    T.MANAGE_BUY_OFFER: "manage_buy_offer",
    T.PATH_PAYMENT_STRICT_SEND: "path_payment_strict_send",
    T.CREATE_CLAIMABLE_BALANCE: "create_claimable_balance",
    T.CLAIM_CLAIMABLE_BALANCE: "claim_claimable_balance",
    T.SET_TRUST_LINE_FLAGS: "set_trust_line_flags",
}
_FLAG_NAMES = {1: "auth_required", 2: "auth_revocable", 4: "auth_immutable",
               8: "auth_clawback_enabled"}
_TL_FLAG_NAMES = {1: "authorized", 2: "authorized_to_maintain_liabilites",
                  4: "clawback_enabled"}


def href(url: str, templated: bool = False) -> Json:
    return {"href": url, "templated": True} if templated else {"href": url}


def _muxed_fields(name: str, m: str | None, mid: int | None) -> Json:
    return {f"{name}_muxed": m, f"{name}_muxed_id": str(mid)} if m else {}


# --- root ----------------------------------------------------------------------------------


def root(base: str, passphrase: str, latest: LedgerRecord, protocol: int) -> Json:
    links = {
        "account": href(f"{base}/accounts/{{account_id}}", True),
        "accounts": href(f"{base}/accounts{{?signer,sponsor,asset,liquidity_pool,cursor,limit,"
                         "order}", True),
        "account_transactions": href(
            f"{base}/accounts/{{account_id}}/transactions{{?cursor,limit,order}}", True),
        "claimable_balances": href(
            f"{base}/claimable_balances{{?asset,sponsor,claimant,cursor,limit,order}}", True),
        "fee_stats": href(f"{base}/fee_stats"),
        "friendbot": href(f"{base}/friendbot{{?addr}}", True),
        "ledger": href(f"{base}/ledgers/{{sequence}}", True),
        "ledgers": href(f"{base}/ledgers{{?cursor,limit,order}}", True),
        "operation": href(f"{base}/operations/{{id}}", True),
        "operations": href(f"{base}/operations{{?cursor,limit,order,include_failed}}", True),
        "payments": href(f"{base}/payments{{?cursor,limit,order,include_failed}}", True),
        "self": href(f"{base}/"),
        "transaction": href(f"{base}/transactions/{{hash}}", True),
        "transactions": href(f"{base}/transactions{{?cursor,limit,order}}", True),
    }
    return {
        "_links": links,
        "horizon_version": HORIZON_VERSION,
        "core_version": CORE_VERSION,
        "ingest_latest_ledger": latest.sequence,
        "history_latest_ledger": latest.sequence,
        "history_latest_ledger_closed_at": iso_time(latest.closed_at),
        "history_elder_ledger": 1,
        "core_latest_ledger": latest.sequence,
        "network_passphrase": passphrase,
        "current_protocol_version": protocol,
        "supported_protocol_version": protocol,
        "core_supported_protocol_version": protocol,
    }


# --- accounts ------------------------------------------------------------------------------


def account(acc: Account, base: str) -> Json:
    url = f"{base}/accounts/{acc.account_id}"
    balances: list[Json] = []
    for key, line in acc.trustlines.items():
        entry = {
            "balance": amount_str(line.balance),
            "limit": amount_str(line.limit),
            "buying_liabilities": "0.0000000",
            "selling_liabilities": "0.0000000",
            "last_modified_ledger": line.last_modified_ledger,
            "is_authorized": line.authorized,
            "is_authorized_to_maintain_liabilities": line.authorized_to_maintain_liabilities,
        }
        if line.flags & TL_CLAWBACK_ENABLED:
            entry["is_clawback_enabled"] = True
        entry.update(asset_fields(key))
        balances.append(entry)
    balances.append({"balance": amount_str(acc.balance), "buying_liabilities": "0.0000000",
                     "selling_liabilities": "0.0000000", "asset_type": "native"})
    signers = []
    if acc.master_weight:
        signers.append({"weight": acc.master_weight, "key": acc.account_id,
                        "type": "ed25519_public_key"})
    for key in sorted(acc.signers):
        kind = {"G": "ed25519_public_key", "T": "preauth_tx", "X": "sha256_hash"}[key[0]]
        signers.append({"weight": acc.signers[key], "key": key, "type": kind})
    body: Json = {
        "_links": {
            "self": href(url),
            "transactions": href(f"{url}/transactions{{?cursor,limit,order}}", True),
            "operations": href(f"{url}/operations{{?cursor,limit,order}}", True),
            "payments": href(f"{url}/payments{{?cursor,limit,order}}", True),
            "effects": href(f"{url}/effects{{?cursor,limit,order}}", True),
            "offers": href(f"{url}/offers{{?cursor,limit,order}}", True),
            "trades": href(f"{url}/trades{{?cursor,limit,order}}", True),
            "data": href(f"{url}/data/{{key}}", True),
        },
        "id": acc.account_id,
        "account_id": acc.account_id,
        "sequence": str(acc.seq),
        "sequence_ledger": acc.seq_ledger,
        "sequence_time": str(acc.seq_time),
        "subentry_count": acc.subentries,
    }
    if acc.inflation_dest:
        body["inflation_destination"] = acc.inflation_dest
    if acc.home_domain:
        body["home_domain"] = acc.home_domain
    body.update({
        "last_modified_ledger": acc.last_modified_ledger,
        "last_modified_time": iso_time(acc.last_modified_time),
        "thresholds": {"low_threshold": acc.low_threshold, "med_threshold": acc.med_threshold,
                       "high_threshold": acc.high_threshold},
        "flags": {"auth_required": bool(acc.flags & AUTH_REQUIRED),
                  "auth_revocable": bool(acc.flags & AUTH_REVOCABLE),
                  "auth_immutable": bool(acc.flags & AUTH_IMMUTABLE),
                  "auth_clawback_enabled": bool(acc.flags & AUTH_CLAWBACK_ENABLED)},
        "balances": balances,
        "signers": signers,
        "data": {k: base64.b64encode(v).decode() for k, v in acc.data.items()},
        "num_sponsoring": acc.num_sponsoring,
        "num_sponsored": 0,
        "paging_token": acc.account_id,
    })
    return body


# --- transactions --------------------------------------------------------------------------


def _sigs(sigs: list[xdr.DecoratedSignature]) -> list[str]:
    return [base64.b64encode(s.signature.signature).decode() for s in sigs]


def memo_fields(memo: xdr.Memo) -> Json:
    M = xdr.MemoType
    if memo.type == M.MEMO_TEXT:
        raw = memo.text
        return {"memo_type": "text", "memo": raw.decode("utf-8", errors="replace"),
                "memo_bytes": base64.b64encode(raw).decode()}
    if memo.type == M.MEMO_ID:
        return {"memo_type": "id", "memo": str(memo.id.uint64)}
    if memo.type == M.MEMO_HASH:
        return {"memo_type": "hash", "memo": base64.b64encode(memo.hash.hash).decode()}
    if memo.type == M.MEMO_RETURN:
        return {"memo_type": "return", "memo": base64.b64encode(memo.ret_hash.hash).decode()}
    return {"memo_type": "none"}


def _preconditions(rec: TxRecord) -> Json:
    out: Json = {}
    bounds = rec.env.time_bounds
    if bounds is not None:
        tb = {"min_time": str(bounds[0])}
        if bounds[1]:
            tb["max_time"] = str(bounds[1])
        out["timebounds"] = tb
    v2 = rec.env.v2
    if v2 is not None:
        if v2.ledger_bounds is not None:
            lb = {"min_ledger": v2.ledger_bounds.min_ledger.uint32}
            if v2.ledger_bounds.max_ledger.uint32:
                lb["max_ledger"] = v2.ledger_bounds.max_ledger.uint32
            out["ledgerbounds"] = lb
        if v2.min_seq_num is not None:
            out["min_account_sequence"] = str(v2.min_seq_num.sequence_number.int64)
        if v2.min_seq_age.duration.uint64:
            out["min_account_sequence_age"] = str(v2.min_seq_age.duration.uint64)
        if v2.min_seq_ledger_gap.uint32:
            out["min_account_sequence_ledger_gap"] = v2.min_seq_ledger_gap.uint32
    return out


def transaction(rec: TxRecord, base: str, requested_hash: str | None = None) -> Json:
    """The Transaction resource; asked for by inner hash, a fee bump shows the inner one."""
    env = rec.env
    tx_hash = env.hash_hex
    signatures = env.outer_signatures if env.is_fee_bump else env.signatures
    max_fee = env.max_fee
    if env.is_fee_bump and requested_hash == env.inner_hash.hex():
        tx_hash, signatures, max_fee = requested_hash, env.signatures, env.fee
    url = f"{base}/transactions/{tx_hash}"
    token = str(rec.id)
    body: Json = {
        "_links": {
            "self": href(url),
            "account": href(f"{base}/accounts/{env.source}"),
            "ledger": href(f"{base}/ledgers/{rec.ledger}"),
            "operations": href(f"{url}/operations{{?cursor,limit,order}}", True),
            "effects": href(f"{url}/effects{{?cursor,limit,order}}", True),
            "precedes": href(f"{base}/transactions?order=asc&cursor={token}"),
            "succeeds": href(f"{base}/transactions?order=desc&cursor={token}"),
            "transaction": href(url),
        },
        "id": tx_hash,
        "paging_token": token,
        "successful": rec.successful,
        "hash": tx_hash,
        "ledger": rec.ledger,
        "created_at": iso_time(rec.closed_at),
        "source_account": env.source,
        **_muxed_fields("account", env.source_muxed, env.source_muxed_id),
        "source_account_sequence": str(env.seq),
        "fee_account": env.fee_source,
        **_muxed_fields("fee_account", env.fee_source_muxed, env.fee_source_muxed_id),
        "fee_charged": str(rec.fee_charged),
        "max_fee": str(max_fee),
        "operation_count": len(env.ops),
        "envelope_xdr": env.envelope_xdr,
        "result_xdr": rec.result_xdr,
        "fee_meta_xdr": EMPTY_CHANGES,
        **memo_fields(env.tx.memo),
        "signatures": _sigs(signatures),
    }
    pre = _preconditions(rec)
    if pre:
        body["preconditions"] = pre
    if env.is_fee_bump:
        body["fee_bump_transaction"] = {"hash": env.hash_hex,
                                        "signatures": _sigs(env.outer_signatures)}
        body["inner_transaction"] = {"hash": env.inner_hash.hex(),
                                     "signatures": _sigs(env.signatures),
                                     "max_fee": str(env.fee)}
    return body


# --- operations ----------------------------------------------------------------------------


def _path(assets: list[xdr.Asset]) -> list[Json]:
    return [asset_fields(asset_key(a)) for a in assets]


def _flags(value: int, names: dict[int, str], field: str) -> Json:
    bits = [b for b in names if value & b]
    return {field: bits, f"{field}_s": [names[b] for b in bits]} if bits else {}


def predicate(p: xdr.ClaimPredicate) -> Json:
    """Horizon's JSON form of a claim predicate."""
    P = xdr.ClaimPredicateType
    if p.type == P.CLAIM_PREDICATE_AND:
        return {"and": [predicate(q) for q in p.and_predicates]}
    if p.type == P.CLAIM_PREDICATE_OR:
        return {"or": [predicate(q) for q in p.or_predicates]}
    if p.type == P.CLAIM_PREDICATE_NOT:
        return {"not": predicate(p.not_predicate)}
    if p.type == P.CLAIM_PREDICATE_BEFORE_ABSOLUTE_TIME:
        epoch = p.abs_before.int64
        return {"abs_before": iso_time(min(epoch, 253402300799)), "abs_before_epoch": str(epoch)}
    if p.type == P.CLAIM_PREDICATE_BEFORE_RELATIVE_TIME:
        return {"rel_before": str(p.rel_before.int64)}
    return {"unconditional": True}


def _details(rec: OpRecord) -> Json:
    b, t, src = rec.op.body, rec.op.body.type, rec.source
    extra = rec.extra
    if t == T.CREATE_ACCOUNT:
        o = b.create_account_op
        return {"starting_balance": amount_str(o.starting_balance.int64), "funder": src,
                **_muxed_fields("funder", rec.source_muxed, rec.source_muxed_id),
                "account": account_id(o.destination)}
    if t in (T.PAYMENT, T.PATH_PAYMENT_STRICT_SEND, T.PATH_PAYMENT_STRICT_RECEIVE):
        return _payment_details(rec)
    if t == T.CHANGE_TRUST:
        o = b.change_trust_op
        key = asset_key(o.line)
        return {**asset_fields(key), "limit": amount_str(o.limit.int64),
                "trustee": issuer_of(key), "trustor": src,
                **_muxed_fields("trustor", rec.source_muxed, rec.source_muxed_id)}
    if t == T.SET_OPTIONS:
        return _set_options_details(b.set_options_op)
    if t == T.ACCOUNT_MERGE:
        into, into_m, into_id = muxed(b.destination)
        return {"account": src, **_muxed_fields("account", rec.source_muxed, rec.source_muxed_id),
                "into": into, **_muxed_fields("into", into_m, into_id)}
    if t == T.MANAGE_DATA:
        o = b.manage_data_op
        value = o.data_value.data_value if o.data_value is not None else b""
        return {"name": o.data_name.string64.decode("ascii"),
                "value": base64.b64encode(value).decode()}
    if t == T.BUMP_SEQUENCE:
        return {"bump_to": str(b.bump_sequence_op.bump_to.sequence_number.int64)}
    if t == T.CREATE_CLAIMABLE_BALANCE:
        o = b.create_claimable_balance_op
        return {"asset": asset_key(o.asset), "amount": amount_str(o.amount.int64),
                "claimants": [{"destination": account_id(c.v0.destination),
                               "predicate": predicate(c.v0.predicate)} for c in o.claimants]}
    if t == T.CLAIM_CLAIMABLE_BALANCE:
        return {"balance_id": b.claim_claimable_balance_op.balance_id.to_xdr_bytes().hex(),
                "claimant": src,
                **_muxed_fields("claimant", rec.source_muxed, rec.source_muxed_id)}
    if t == T.SET_TRUST_LINE_FLAGS:
        o = b.set_trust_line_flags_op
        return {**asset_fields(asset_key(o.asset)), "trustor": account_id(o.trustor),
                **_flags(o.set_flags.uint32, _TL_FLAG_NAMES, "set_flags"),
                **_flags(o.clear_flags.uint32, _TL_FLAG_NAMES, "clear_flags")}
    if t == T.ALLOW_TRUST:
        o = b.allow_trust_op
        raw = (o.asset.asset_code4.asset_code4 if o.asset.asset_code4
               else o.asset.asset_code12.asset_code12)
        key = f"{raw.rstrip(bytes(1)).decode('ascii')}:{src}"
        return {**asset_fields(key), "trustee": src, "trustor": account_id(o.trustor),
                "authorize": o.authorize.uint32 == 1,
                "authorize_to_maintain_liabilities": o.authorize.uint32 == 2}
    return extra


def _payment_details(rec: OpRecord) -> Json:
    b, t = rec.op.body, rec.op.body.type
    frm = {"from": rec.source, **_muxed_fields("from", rec.source_muxed, rec.source_muxed_id)}
    if t == T.PAYMENT:
        o = b.payment_op
        to, to_m, to_id = muxed(o.destination)
        return {**asset_fields(asset_key(o.asset)), **frm, "to": to,
                **_muxed_fields("to", to_m, to_id), "amount": amount_str(o.amount.int64)}
    extra = rec.extra
    if t == T.PATH_PAYMENT_STRICT_SEND:
        o = b.path_payment_strict_send_op
        to, to_m, to_id = muxed(o.destination)
        return {**asset_fields(asset_key(o.dest_asset)), **frm, "to": to,
                **_muxed_fields("to", to_m, to_id),
                "amount": amount_str(int(extra.get("amount", 0))), "path": _path(o.path),
                "source_amount": amount_str(o.send_amount.int64),
                "destination_min": amount_str(o.dest_min.int64),
                **asset_fields(asset_key(o.send_asset), "source_")}
    o = b.path_payment_strict_receive_op
    to, to_m, to_id = muxed(o.destination)
    return {**asset_fields(asset_key(o.dest_asset)), **frm, "to": to,
            **_muxed_fields("to", to_m, to_id), "amount": amount_str(o.dest_amount.int64),
            "path": _path(o.path), "source_amount": amount_str(int(extra.get("source_amount", 0))),
            "source_max": amount_str(o.send_max.int64),
            **asset_fields(asset_key(o.send_asset), "source_")}


def _set_options_details(o: xdr.SetOptionsOp) -> Json:
    out: Json = {}
    if o.home_domain is not None:
        out["home_domain"] = o.home_domain.string32.decode("ascii")
    if o.inflation_dest is not None:
        out["inflation_dest"] = account_id(o.inflation_dest)
    if o.master_weight is not None:
        out["master_key_weight"] = o.master_weight.uint32
    for name in ("low_threshold", "med_threshold", "high_threshold"):
        value = getattr(o, name)
        if value is not None:
            out[name] = value.uint32
    if o.signer is not None:
        out["signer_key"] = signer_strkey(o.signer.key)
        out["signer_weight"] = o.signer.weight.uint32
    out.update(_flags(o.set_flags.uint32 if o.set_flags else 0, _FLAG_NAMES, "set_flags"))
    out.update(_flags(o.clear_flags.uint32 if o.clear_flags else 0, _FLAG_NAMES, "clear_flags"))
    return out


def operation(rec: OpRecord, base: str, join: bool = False) -> Json:
    """An operation record (payments endpoints use the same shape)."""
    token = str(rec.id)
    tx = rec.tx
    body: Json = {
        "_links": {
            "self": href(f"{base}/operations/{token}"),
            "transaction": href(f"{base}/transactions/{tx.env.hash_hex}"),
            "effects": href(f"{base}/operations/{token}/effects"),
            "succeeds": href(f"{base}/effects?order=desc&cursor={token}"),
            "precedes": href(f"{base}/effects?order=asc&cursor={token}"),
        },
        "id": token,
        "paging_token": token,
        "transaction_successful": tx.successful,
        "source_account": rec.source,
        **_muxed_fields("source_account", rec.source_muxed, rec.source_muxed_id),
        "type": _TYPE_NAMES.get(rec.op.body.type, rec.op.body.type.name.lower()),
        "type_i": rec.op.body.type.value,
        "created_at": iso_time(tx.closed_at),
        "transaction_hash": tx.env.hash_hex,
    }
    if join:
        body["transaction"] = transaction(tx, base)
    body.update(_details(rec))
    return body


# --- ledgers, balances, fees ------------------------------------------------------------------


def ledger(rec: LedgerRecord, base: str) -> Json:
    url = f"{base}/ledgers/{rec.sequence}"
    return {
        "_links": {
            "self": href(url),
            "transactions": href(f"{url}/transactions{{?cursor,limit,order}}", True),
            "operations": href(f"{url}/operations{{?cursor,limit,order}}", True),
            "payments": href(f"{url}/payments{{?cursor,limit,order}}", True),
            "effects": href(f"{url}/effects{{?cursor,limit,order}}", True),
        },
        "id": rec.hash,
        "paging_token": str(rec.id),
        "hash": rec.hash,
        "prev_hash": rec.prev_hash,
        "sequence": rec.sequence,
        "successful_transaction_count": rec.successful_transaction_count,
        "failed_transaction_count": rec.failed_transaction_count,
        "operation_count": rec.operation_count,
        "tx_set_operation_count": rec.tx_set_operation_count,
        "closed_at": iso_time(rec.closed_at),
        "total_coins": amount_str(rec.total_coins),
        "fee_pool": amount_str(rec.fee_pool),
        "base_fee_in_stroops": rec.base_fee,
        "base_reserve_in_stroops": rec.base_reserve,
        "max_tx_set_size": rec.max_tx_set_size,
        "protocol_version": PROTOCOL_VERSION,
        "header_xdr": rec.header_xdr,
    }


def balance_token(cb: ClaimableBalance) -> str:
    return f"{cb.last_modified_ledger}-{cb.balance_id}"


def claimable_balance(cb: ClaimableBalance, base: str) -> Json:
    url = f"{base}/claimable_balances/{cb.balance_id}"
    return {
        "_links": {
            "self": href(url),
            "transactions": href(f"{url}/transactions{{?cursor,limit,order}}", True),
            "operations": href(f"{url}/operations{{?cursor,limit,order}}", True),
        },
        "id": cb.balance_id,
        "asset": cb.asset if cb.asset != NATIVE else "native",
        "amount": amount_str(cb.amount),
        "sponsor": cb.sponsor,
        "last_modified_ledger": cb.last_modified_ledger,
        "last_modified_time": iso_time(cb.last_modified_time),
        "claimants": [{"destination": d, "predicate": predicate(p)} for d, p in cb.claimants],
        "flags": {"clawback_enabled": cb.clawback_enabled},
        "paging_token": balance_token(cb),
    }


def _percentiles(values: list[int], fallback: int) -> Json:
    data = sorted(values) or [fallback]
    out = {"max": str(data[-1]), "min": str(data[0])}
    counts: dict[int, int] = {}
    for v in data:
        counts[v] = counts.get(v, 0) + 1
    out["mode"] = str(max(counts, key=lambda v: (counts[v], -v)))
    for p in (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99):
        idx = min(len(data) - 1, max(0, -(-p * len(data) // 100) - 1))
        out[f"p{p}"] = str(data[idx])
    return out


def fee_stats(latest: LedgerRecord, recent: list[TxRecord], capacity: int) -> Json:
    """Per-operation fees of the recent ledgers' transactions, as /fee_stats reports."""
    charged = [r.fee_charged // r.env.fee_ops for r in recent]
    bids = [r.env.max_fee // r.env.fee_ops for r in recent]
    usage = latest.tx_set_operation_count / capacity if capacity else 0
    return {
        "last_ledger": str(latest.sequence),
        "last_ledger_base_fee": str(latest.base_fee),
        "ledger_capacity_usage": f"{usage:.2f}",
        "fee_charged": _percentiles(charged, latest.base_fee),
        "max_fee": _percentiles(bids, latest.base_fee),
    }
