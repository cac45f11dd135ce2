"""Operation semantics: admission checks, threshold levels and application to the ledger.

Each supported operation is checked twice as stellar-core does: ``check_op`` (static validity,
at submission; a failure rejects the whole transaction without charging a fee) and
``apply_op`` (against the ledger while it closes; a failure makes the transaction tx_failed).
Codes and their order follow core, so tests see the code core would produce first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from stellar_sdk import StrKey, xdr

from .assets import NATIVE, account_id, asset_key, is_valid_asset, issuer_of, muxed, to_xdr_asset
from .ledger import (
    ACCOUNT_FLAGS_MASK,
    AUTH_CLAWBACK_ENABLED,
    AUTH_IMMUTABLE,
    AUTH_REQUIRED,
    AUTH_REVOCABLE,
    TL_AUTHORIZED,
    TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES,
    TL_CLAWBACK_ENABLED,
    Account,
    ClaimableBalance,
    LedgerState,
    Trustline,
)
from .rates import RateTable
from .results import SUPPORTED_OPS, op_result, op_top_result
from .strkeys import g_address, xdr_account_id
from .units import INT64_MAX

T = xdr.OperationType
MAX_SIGNERS = 20
LOW, MED, HIGH = "low", "med", "high"


@dataclass
class ApplyContext:
    """What an operation needs to know about the ledger it is applied in."""

    state: LedgerState
    rates: RateTable
    ledger_seq: int
    close_time: int
    tx_source: xdr.AccountID
    tx_seq: int


@dataclass
class Applied:
    """Result of one operation plus amounts Horizon shows but the result XDR does not carry."""

    result: xdr.OperationResult
    extra: dict[str, object]


def op_source(op: xdr.Operation, tx_source: str) -> str:
    """G address the operation acts for."""
    return muxed(op.source_account)[0] if op.source_account else tx_source


def threshold_level(op: xdr.Operation) -> str:
    """Core's getThresholdLevel for each supported operation."""
    t = op.body.type
    if t in (T.BUMP_SEQUENCE, T.CLAIM_CLAIMABLE_BALANCE, T.ALLOW_TRUST, T.SET_TRUST_LINE_FLAGS):
        return LOW
    if t == T.ACCOUNT_MERGE:
        return HIGH
    if t == T.SET_OPTIONS:
        o = op.body.set_options_op
        if any(v is not None for v in (o.master_weight, o.low_threshold, o.med_threshold,
                                         o.high_threshold, o.signer)):
            return HIGH
    return MED


def participants(op: xdr.Operation, source: str) -> set[str]:
    """Accounts whose history lists this operation (Horizon's participants)."""
    found = {source}
    b = op.body
    t = b.type
    if t == T.CREATE_ACCOUNT:
        found.add(account_id(b.create_account_op.destination))
    elif t == T.PAYMENT:
        found.add(muxed(b.payment_op.destination)[0])
    elif t == T.PATH_PAYMENT_STRICT_SEND:
        found.add(muxed(b.path_payment_strict_send_op.destination)[0])
    elif t == T.PATH_PAYMENT_STRICT_RECEIVE:
        found.add(muxed(b.path_payment_strict_receive_op.destination)[0])
    elif t == T.ACCOUNT_MERGE:
        found.add(muxed(b.destination)[0])
    elif t == T.CREATE_CLAIMABLE_BALANCE:
        found.update(account_id(c.v0.destination) for c in b.create_claimable_balance_op.claimants)
    elif t == T.SET_TRUST_LINE_FLAGS:
        found.add(account_id(b.set_trust_line_flags_op.trustor))
    elif t == T.ALLOW_TRUST:
        found.add(account_id(b.allow_trust_op.trustor))
    return found


# --- admission checks ------------------------------------------------------------------


def default_success(op: xdr.Operation) -> xdr.OperationResult:
    """The zero-valued SUCCESS result core puts in results of ops that passed checkValid."""
    b, t = op.body, op.body.type
    if t == T.PATH_PAYMENT_STRICT_SEND:
        o = b.path_payment_strict_send_op
        last = _simple_payment(o.destination, asset_key(o.dest_asset), 0)
        return op_result(t, "SUCCESS", success=xdr.PathPaymentStrictSendResultSuccess([], last))
    if t == T.PATH_PAYMENT_STRICT_RECEIVE:
        o = b.path_payment_strict_receive_op
        last = _simple_payment(o.destination, asset_key(o.dest_asset), 0)
        return op_result(t, "SUCCESS",
                         success=xdr.PathPaymentStrictReceiveResultSuccess([], last))
    if t == T.CREATE_CLAIMABLE_BALANCE:
        zero = xdr.ClaimableBalanceID(
            type=xdr.ClaimableBalanceIDType.CLAIMABLE_BALANCE_ID_TYPE_V0, v0=xdr.Hash(bytes(32)))
        return op_result(t, "SUCCESS", balance_id=zero)
    if t == T.ACCOUNT_MERGE:
        return op_result(t, "SUCCESS", source_account_balance=xdr.Int64(0))
    return op_result(t, "SUCCESS")


def check_op(op: xdr.Operation, source: str) -> xdr.OperationResult | None:
    """Static validity (core's doCheckValid); returns the failing result or None."""
    t = op.body.type
    if t not in SUPPORTED_OPS:
        return op_top_result(xdr.OperationResultCode.opNOT_SUPPORTED)
    code = _CHECKS[t](op.body, source)
    return op_result(t, code) if code else None


def _check_create_account(b: xdr.OperationBody, source: str) -> str | None:
    o = b.create_account_op
    if o.starting_balance.int64 < 0 or account_id(o.destination) == source:
        return "MALFORMED"
    return None


def _check_payment(b: xdr.OperationBody, source: str) -> str | None:
    o = b.payment_op
    if o.amount.int64 <= 0 or not is_valid_asset(o.asset):
        return "MALFORMED"
    return None


def _check_strict_send(b: xdr.OperationBody, source: str) -> str | None:
    o = b.path_payment_strict_send_op
    assets = [o.send_asset, o.dest_asset, *o.path]
    if o.send_amount.int64 <= 0 or o.dest_min.int64 <= 0 or not all(map(is_valid_asset, assets)):
        return "MALFORMED"
    return None


def _check_strict_receive(b: xdr.OperationBody, source: str) -> str | None:
    o = b.path_payment_strict_receive_op
    assets = [o.send_asset, o.dest_asset, *o.path]
    if o.send_max.int64 <= 0 or o.dest_amount.int64 <= 0 or not all(map(is_valid_asset, assets)):
        return "MALFORMED"
    return None


def _check_change_trust(b: xdr.OperationBody, source: str) -> str | None:
    o = b.change_trust_op
    if o.line.type == xdr.AssetType.ASSET_TYPE_POOL_SHARE:
        return "MALFORMED"
    if o.limit.int64 < 0 or o.line.type == xdr.AssetType.ASSET_TYPE_NATIVE:
        return "MALFORMED"
    if not is_valid_asset(o.line) or issuer_of(asset_key(o.line)) == source:
        return "MALFORMED"
    return None


def _check_set_options(b: xdr.OperationBody, source: str) -> str | None:
    o = b.set_options_op
    for value in (o.master_weight, o.low_threshold, o.med_threshold, o.high_threshold):
        if value is not None and value.uint32 > 255:
            return "THRESHOLD_OUT_OF_RANGE"
    set_flags = o.set_flags.uint32 if o.set_flags else 0
    clear_flags = o.clear_flags.uint32 if o.clear_flags else 0
    if (set_flags | clear_flags) & ~ACCOUNT_FLAGS_MASK:
        return "UNKNOWN_FLAG"
    if set_flags & clear_flags:
        return "BAD_FLAGS"
    if o.signer is not None:
        key = signer_strkey(o.signer.key)
        if key is None or key == source or o.signer.weight.uint32 > 255:
            return "BAD_SIGNER"
    if o.home_domain is not None:
        domain = o.home_domain.string32
        if len(domain) > 32 or any(c < 0x20 or c > 0x7E for c in domain):
            return "INVALID_HOME_DOMAIN"
    return None


def _check_account_merge(b: xdr.OperationBody, source: str) -> str | None:
    return "MALFORMED" if muxed(b.destination)[0] == source else None


def _check_manage_data(b: xdr.OperationBody, source: str) -> str | None:
    name = b.manage_data_op.data_name.string64
    if not name or any(c < 0x20 or c > 0x7E for c in name):
        return "INVALID_NAME"
    return None


def _check_bump_sequence(b: xdr.OperationBody, source: str) -> str | None:
    return "BAD_SEQ" if b.bump_sequence_op.bump_to.sequence_number.int64 < 0 else None


def _check_create_balance(b: xdr.OperationBody, source: str) -> str | None:
    o = b.create_claimable_balance_op
    destinations = [account_id(c.v0.destination) for c in o.claimants]
    if (o.amount.int64 <= 0 or not is_valid_asset(o.asset) or not destinations
            or len(set(destinations)) != len(destinations)
            or not all(_predicate_valid(c.v0.predicate, 1) for c in o.claimants)):
        return "MALFORMED"
    return None


def _check_claim_balance(b: xdr.OperationBody, source: str) -> str | None:
    return None


def _check_set_trust_line_flags(b: xdr.OperationBody, source: str) -> str | None:
    o = b.set_trust_line_flags_op
    if o.asset.type == xdr.AssetType.ASSET_TYPE_NATIVE or not is_valid_asset(o.asset):
        return "MALFORMED"
    if issuer_of(asset_key(o.asset)) != source or account_id(o.trustor) == source:
        return "MALFORMED"
    set_flags, clear_flags = o.set_flags.uint32, o.clear_flags.uint32
    if set_flags & clear_flags or (set_flags | clear_flags) & ~7 or set_flags & TL_CLAWBACK_ENABLED:
        return "MALFORMED"
    both = TL_AUTHORIZED | TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES
    return "MALFORMED" if set_flags & both == both else None


def _check_allow_trust(b: xdr.OperationBody, source: str) -> str | None:
    o = b.allow_trust_op
    if o.authorize.uint32 > 2 or account_id(o.trustor) == source:
        return "MALFORMED"
    return None


_CHECKS = {
    T.CREATE_ACCOUNT: _check_create_account,
    T.PAYMENT: _check_payment,
    T.PATH_PAYMENT_STRICT_SEND: _check_strict_send,
    T.PATH_PAYMENT_STRICT_RECEIVE: _check_strict_receive,
    T.CHANGE_TRUST: _check_change_trust,
    T.SET_OPTIONS: _check_set_options,
    T.ACCOUNT_MERGE: _check_account_merge,
    T.MANAGE_DATA: _check_manage_data,
    T.BUMP_SEQUENCE: _check_bump_sequence,
    T.CREATE_CLAIMABLE_BALANCE: _check_create_balance,
    T.CLAIM_CLAIMABLE_BALANCE: _check_claim_balance,
    T.SET_TRUST_LINE_FLAGS: _check_set_trust_line_flags,
    T.ALLOW_TRUST: _check_allow_trust,
}


# --- balances ----------------------------------------------------------------------------


def _credit_check(st: LedgerState, dest: Account, asset: str, amount: int) -> str | None:
    """Why ``dest`` cannot receive ``amount`` of ``asset`` (payment codes), or None."""
    if asset == NATIVE:
        return "LINE_FULL" if dest.balance + amount > INT64_MAX else None
    if issuer_of(asset) == dest.account_id:
        return None
    line = dest.trustlines.get(asset)
    if line is None:
        return "NO_TRUST"
    if not line.authorized:
        return "NOT_AUTHORIZED"
    return "LINE_FULL" if line.balance + amount > line.limit else None


def _debit_check(st: LedgerState, src: Account, asset: str, amount: int) -> str | None:
    """Why ``src`` cannot send ``amount`` of ``asset`` (payment codes), or None."""
    if asset == NATIVE:
        return "UNDERFUNDED" if st.available_native(src) < amount else None
    if issuer_of(asset) == src.account_id:
        return None
    line = src.trustlines.get(asset)
    if line is None:
        return "SRC_NO_TRUST"
    if not line.authorized:
        return "SRC_NOT_AUTHORIZED"
    return "UNDERFUNDED" if line.balance < amount else None


def _move(acc: Account, asset: str, delta: int, ledger_seq: int) -> None:
    """Add ``delta`` (may be negative) to a balance; issuers mint and burn their own asset."""
    if asset == NATIVE:
        acc.balance += delta
    elif issuer_of(asset) != acc.account_id:
        line = acc.trustlines[asset]
        line.balance += delta
        line.last_modified_ledger = ledger_seq


def _touch(acc: Account, ctx: ApplyContext) -> None:
    acc.last_modified_ledger = ctx.ledger_seq
    acc.last_modified_time = ctx.close_time


# --- application -------------------------------------------------------------------------


def apply_op(ctx: ApplyContext, op: xdr.Operation, source: str, index: int) -> Applied:
    """Apply one operation (``index`` is 1-based, as in the operation's TOID)."""
    if ctx.state.account(source) is None:
        return Applied(op_top_result(xdr.OperationResultCode.opNO_ACCOUNT), {})
    return _APPLY[op.body.type](ctx, op.body, source, index)


def _create_account(ctx: ApplyContext, b: xdr.OperationBody, source: str, _i: int) -> Applied:
    st, o = ctx.state, b.create_account_op
    dest, amount = account_id(o.destination), o.starting_balance.int64
    if st.account(dest) is not None:
        return _fail(T.CREATE_ACCOUNT, "ALREADY_EXIST")
    if amount < 2 * st.base_reserve:
        return _fail(T.CREATE_ACCOUNT, "LOW_RESERVE")
    src = st.mut(source)
    if st.available_native(src) < amount:
        return _fail(T.CREATE_ACCOUNT, "UNDERFUNDED")
    src.balance -= amount
    _touch(src, ctx)
    st.add_account(new_account(dest, amount, ctx.ledger_seq, ctx.close_time))
    return _ok(T.CREATE_ACCOUNT)


def new_account(address: str, balance: int, ledger_seq: int, close_time: int) -> Account:
    """A fresh account as create_account makes it (sequence = ledger << 32)."""
    return Account(
        account_id=address, balance=balance, seq=ledger_seq << 32,
        last_modified_ledger=ledger_seq, last_modified_time=close_time,
    )


def _payment(ctx: ApplyContext, b: xdr.OperationBody, source: str, _i: int) -> Applied:
    st, o = ctx.state, b.payment_op
    dest_id, asset, amount = muxed(o.destination)[0], asset_key(o.asset), o.amount.int64
    if dest_id == source:
        src = st.account(source)
        if asset != NATIVE and issuer_of(asset) != source:
            line = src.trustlines.get(asset)
            if line is None:
                return _fail(T.PAYMENT, "SRC_NO_TRUST")
            if not line.authorized:
                return _fail(T.PAYMENT, "SRC_NOT_AUTHORIZED")
        return _ok(T.PAYMENT)
    dest = st.account(dest_id)
    if dest is None:
        return _fail(T.PAYMENT, "NO_DESTINATION")
    code = _credit_check(st, dest, asset, amount) or _debit_check(
        st, st.account(source), asset, amount)
    if code:
        return _fail(T.PAYMENT, code)
    _transfer(ctx, source, dest_id, asset, amount, asset, amount)
    return _ok(T.PAYMENT)


def _transfer(ctx: ApplyContext, source: str, dest: str, send_asset: str, send: int,
              dest_asset: str, receive: int) -> None:
    src = ctx.state.mut(source)
    _move(src, send_asset, -send, ctx.ledger_seq)
    _touch(src, ctx)
    dst = ctx.state.mut(dest)
    _move(dst, dest_asset, receive, ctx.ledger_seq)
    _touch(dst, ctx)


def _path(send: xdr.Asset, path: list[xdr.Asset], dest: xdr.Asset) -> list[str]:
    keys = [asset_key(a) for a in (send, *path, dest)]
    return [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]


def _path_payment(ctx: ApplyContext, op_type: xdr.OperationType, dest_id: str, source: str,
                  send_asset: str, send: int, dest_asset: str, receive: int) -> Applied | None:
    """Shared destination/source checks and the transfer; returns a failure or None."""
    st = ctx.state
    dest = st.account(dest_id)
    if dest is None:
        return _fail(op_type, "NO_DESTINATION")
    if dest_id != source:
        code = _credit_check(st, dest, dest_asset, receive) or _debit_check(
            st, st.account(source), send_asset, send)
    else:
        code = _self_path_check(st, st.account(source), send_asset, send, dest_asset, receive)
    if code:
        return _fail(op_type, code)
    if dest_id == source:
        acc = st.mut(source)
        _move(acc, send_asset, -send, ctx.ledger_seq)
        _move(acc, dest_asset, receive, ctx.ledger_seq)
        _touch(acc, ctx)
    else:
        _transfer(ctx, source, dest_id, send_asset, send, dest_asset, receive)
    return None


def _self_path_check(st: LedgerState, acc: Account, send_asset: str, send: int,
                     dest_asset: str, receive: int) -> str | None:
    return _debit_check(st, acc, send_asset, send) or _credit_check(st, acc, dest_asset, receive)


def _strict_send(ctx: ApplyContext, b: xdr.OperationBody, source: str, _i: int) -> Applied:
    o = b.path_payment_strict_send_op
    dest_id = muxed(o.destination)[0]
    assets = _path(o.send_asset, o.path, o.dest_asset)
    if ctx.state.account(dest_id) is None:
        return _fail(T.PATH_PAYMENT_STRICT_SEND, "NO_DESTINATION")
    received = ctx.rates.send(assets, o.send_amount.int64)
    if received is None:
        return _fail(T.PATH_PAYMENT_STRICT_SEND, "TOO_FEW_OFFERS")
    if received < o.dest_min.int64:
        return _fail(T.PATH_PAYMENT_STRICT_SEND, "UNDER_DESTMIN")
    failed = _path_payment(ctx, T.PATH_PAYMENT_STRICT_SEND, dest_id, source, assets[0],
                           o.send_amount.int64, assets[-1], received)
    if failed:
        return failed
    success = xdr.PathPaymentStrictSendResultSuccess(
        offers=[], last=_simple_payment(o.destination, assets[-1], received))
    return Applied(op_result(T.PATH_PAYMENT_STRICT_SEND, "SUCCESS", success=success),
                   {"amount": received, "source_amount": o.send_amount.int64})


def _strict_receive(ctx: ApplyContext, b: xdr.OperationBody, source: str, _i: int) -> Applied:
    o = b.path_payment_strict_receive_op
    dest_id = muxed(o.destination)[0]
    assets = _path(o.send_asset, o.path, o.dest_asset)
    if ctx.state.account(dest_id) is None:
        return _fail(T.PATH_PAYMENT_STRICT_RECEIVE, "NO_DESTINATION")
    needed = ctx.rates.receive(assets, o.dest_amount.int64)
    if needed is None:
        return _fail(T.PATH_PAYMENT_STRICT_RECEIVE, "TOO_FEW_OFFERS")
    if needed > o.send_max.int64:
        return _fail(T.PATH_PAYMENT_STRICT_RECEIVE, "OVER_SENDMAX")
    failed = _path_payment(ctx, T.PATH_PAYMENT_STRICT_RECEIVE, dest_id, source, assets[0],
                           needed, assets[-1], o.dest_amount.int64)
    if failed:
        return failed
    success = xdr.PathPaymentStrictReceiveResultSuccess(
        offers=[], last=_simple_payment(o.destination, assets[-1], o.dest_amount.int64))
    return Applied(op_result(T.PATH_PAYMENT_STRICT_RECEIVE, "SUCCESS", success=success),
                   {"amount": o.dest_amount.int64, "source_amount": needed})


def _simple_payment(dest: xdr.MuxedAccount, asset: str, amount: int) -> xdr.SimplePaymentResult:
    return xdr.SimplePaymentResult(
        destination=xdr_account_id(muxed(dest)[0]),
        asset=to_xdr_asset(asset), amount=xdr.Int64(amount))


def _change_trust(ctx: ApplyContext, b: xdr.OperationBody, source: str, _i: int) -> Applied:
    st, o = ctx.state, b.change_trust_op
    asset, limit = asset_key(o.line), o.limit.int64
    acc = st.account(source)
    line = acc.trustlines.get(asset)
    if line is not None:
        if limit < line.balance:
            return _fail(T.CHANGE_TRUST, "INVALID_LIMIT")
        acc = st.mut(source)
        if limit == 0:
            del acc.trustlines[asset]
            acc.subentries -= 1
        else:
            acc.trustlines[asset].limit = limit
            acc.trustlines[asset].last_modified_ledger = ctx.ledger_seq
        _touch(acc, ctx)
        return _ok(T.CHANGE_TRUST)
    if limit == 0:
        return _fail(T.CHANGE_TRUST, "INVALID_LIMIT")
    issuer = st.account(issuer_of(asset))
    if issuer is None:
        return _fail(T.CHANGE_TRUST, "NO_ISSUER")
    if st.available_native(acc) < st.base_reserve:
        return _fail(T.CHANGE_TRUST, "LOW_RESERVE")
    flags = 0 if issuer.flags & AUTH_REQUIRED else TL_AUTHORIZED
    if issuer.flags & AUTH_CLAWBACK_ENABLED:
        flags |= TL_CLAWBACK_ENABLED
    acc = st.mut(source)
    acc.trustlines[asset] = Trustline(0, limit, flags, ctx.ledger_seq)
    acc.subentries += 1
    _touch(acc, ctx)
    return _ok(T.CHANGE_TRUST)


def signer_strkey(key: xdr.SignerKey) -> str | None:
    if key.type == xdr.SignerKeyType.SIGNER_KEY_TYPE_ED25519:
        return g_address(key.ed25519.uint256)
    if key.type == xdr.SignerKeyType.SIGNER_KEY_TYPE_PRE_AUTH_TX:
        return StrKey.encode_pre_auth_tx(key.pre_auth_tx.uint256)
    if key.type == xdr.SignerKeyType.SIGNER_KEY_TYPE_HASH_X:
        return StrKey.encode_sha256_hash(key.hash_x.uint256)
    return None


def _set_options(ctx: ApplyContext, b: xdr.OperationBody, source: str, _i: int) -> Applied:
    st, o = ctx.state, b.set_options_op
    acc = st.account(source)
    if o.inflation_dest is not None and st.account(account_id(o.inflation_dest)) is None:
        return _fail(T.SET_OPTIONS, "INVALID_INFLATION")
    set_flags = o.set_flags.uint32 if o.set_flags else 0
    clear_flags = o.clear_flags.uint32 if o.clear_flags else 0
    if (set_flags or clear_flags) and acc.flags & AUTH_IMMUTABLE:
        return _fail(T.SET_OPTIONS, "CANT_CHANGE")
    flags = (acc.flags | set_flags) & ~clear_flags
    if flags & AUTH_CLAWBACK_ENABLED and not flags & AUTH_REVOCABLE:
        return _fail(T.SET_OPTIONS, "AUTH_REVOCABLE_REQUIRED")
    signer_key = signer_strkey(o.signer.key) if o.signer is not None else None
    if signer_key is not None and o.signer.weight.uint32 and signer_key not in acc.signers:
        if len(acc.signers) >= MAX_SIGNERS:
            return _fail(T.SET_OPTIONS, "TOO_MANY_SIGNERS")
        if st.available_native(acc) < st.base_reserve:
            return _fail(T.SET_OPTIONS, "LOW_RESERVE")
    acc = st.mut(source)
    acc.flags = flags
    if o.inflation_dest is not None:
        acc.inflation_dest = account_id(o.inflation_dest)
    if o.master_weight is not None:
        acc.master_weight = o.master_weight.uint32
    if o.low_threshold is not None:
        acc.low_threshold = o.low_threshold.uint32
    if o.med_threshold is not None:
        acc.med_threshold = o.med_threshold.uint32
    if o.high_threshold is not None:
        acc.high_threshold = o.high_threshold.uint32
    if o.home_domain is not None:
        acc.home_domain = o.home_domain.string32.decode("ascii")
    if signer_key is not None:
        weight = o.signer.weight.uint32
        if weight == 0:
            if acc.signers.pop(signer_key, None) is not None:
                acc.subentries -= 1
        else:
            if signer_key not in acc.signers:
                acc.subentries += 1
            acc.signers[signer_key] = weight
    _touch(acc, ctx)
    return _ok(T.SET_OPTIONS)


def _account_merge(ctx: ApplyContext, b: xdr.OperationBody, source: str, _i: int) -> Applied:
    st = ctx.state
    dest_id = muxed(b.destination)[0]
    dest, src = st.account(dest_id), st.account(source)
    if dest is None:
        return _fail(T.ACCOUNT_MERGE, "NO_ACCOUNT")
    if src.flags & AUTH_IMMUTABLE:
        return _fail(T.ACCOUNT_MERGE, "IMMUTABLE_SET")
    if src.num_sponsoring:
        return _fail(T.ACCOUNT_MERGE, "IS_SPONSOR")
    if src.subentries:
        return _fail(T.ACCOUNT_MERGE, "HAS_SUB_ENTRIES")
    if src.seq >= ctx.ledger_seq << 32:
        return _fail(T.ACCOUNT_MERGE, "SEQNUM_TOO_FAR")
    if dest.balance + src.balance > INT64_MAX:
        return _fail(T.ACCOUNT_MERGE, "DEST_FULL")
    amount = src.balance
    dest = st.mut(dest_id)
    dest.balance += amount
    _touch(dest, ctx)
    st.remove_account(source)
    return Applied(op_result(T.ACCOUNT_MERGE, "SUCCESS", source_account_balance=xdr.Int64(amount)),
                   {"amount": amount})


def _manage_data(ctx: ApplyContext, b: xdr.OperationBody, source: str, _i: int) -> Applied:
    st, o = ctx.state, b.manage_data_op
    name = o.data_name.string64.decode("ascii")
    acc = st.account(source)
    if o.data_value is None:
        if name not in acc.data:
            return _fail(T.MANAGE_DATA, "NAME_NOT_FOUND")
        acc = st.mut(source)
        del acc.data[name]
        acc.subentries -= 1
    else:
        if name not in acc.data and st.available_native(acc) < st.base_reserve:
            return _fail(T.MANAGE_DATA, "LOW_RESERVE")
        acc = st.mut(source)
        if name not in acc.data:
            acc.subentries += 1
        acc.data[name] = o.data_value.data_value
    _touch(acc, ctx)
    return _ok(T.MANAGE_DATA)


def _bump_sequence(ctx: ApplyContext, b: xdr.OperationBody, source: str, _i: int) -> Applied:
    bump_to = b.bump_sequence_op.bump_to.sequence_number.int64
    acc = ctx.state.mut(source)
    if bump_to > acc.seq:
        acc.seq = bump_to
        acc.seq_ledger, acc.seq_time = ctx.ledger_seq, ctx.close_time
    _touch(acc, ctx)
    return _ok(T.BUMP_SEQUENCE)


def balance_id_of(tx_source: xdr.AccountID, tx_seq: int, index: int) -> xdr.ClaimableBalanceID:
    """Core's id: sha256 of the OperationID preimage (tx source, tx seq, 0-based op index)."""
    preimage = xdr.HashIDPreimage(
        type=xdr.EnvelopeType.ENVELOPE_TYPE_OP_ID,
        operation_id=xdr.HashIDPreimageOperationID(
            source_account=tx_source, seq_num=xdr.SequenceNumber(xdr.Int64(tx_seq)),
            op_num=xdr.Uint32(index)),
    )
    digest = hashlib.sha256(preimage.to_xdr_bytes()).digest()
    return xdr.ClaimableBalanceID(
        type=xdr.ClaimableBalanceIDType.CLAIMABLE_BALANCE_ID_TYPE_V0, v0=xdr.Hash(digest))


def _predicate_valid(p: xdr.ClaimPredicate, depth: int) -> bool:
    P = xdr.ClaimPredicateType
    if depth > 4:
        return False
    if p.type in (P.CLAIM_PREDICATE_AND, P.CLAIM_PREDICATE_OR):
        preds = p.and_predicates if p.type == P.CLAIM_PREDICATE_AND else p.or_predicates
        return len(preds) == 2 and all(_predicate_valid(q, depth + 1) for q in preds)
    if p.type == P.CLAIM_PREDICATE_NOT:
        return p.not_predicate is not None and _predicate_valid(p.not_predicate, depth + 1)
    if p.type == P.CLAIM_PREDICATE_BEFORE_ABSOLUTE_TIME:
        return p.abs_before.int64 >= 0
    if p.type == P.CLAIM_PREDICATE_BEFORE_RELATIVE_TIME:
        return p.rel_before.int64 >= 0
    return True


def _absolute(p: xdr.ClaimPredicate, now: int) -> xdr.ClaimPredicate:
    """Core turns relative predicates into absolute ones when the balance is created."""
    P = xdr.ClaimPredicateType
    if p.type == P.CLAIM_PREDICATE_BEFORE_RELATIVE_TIME:
        return xdr.ClaimPredicate(type=P.CLAIM_PREDICATE_BEFORE_ABSOLUTE_TIME,
                                  abs_before=xdr.Int64(min(INT64_MAX, now + p.rel_before.int64)))
    if p.type == P.CLAIM_PREDICATE_AND:
        return xdr.ClaimPredicate(type=p.type,
                                  and_predicates=[_absolute(q, now) for q in p.and_predicates])
    if p.type == P.CLAIM_PREDICATE_OR:
        return xdr.ClaimPredicate(type=p.type,
                                  or_predicates=[_absolute(q, now) for q in p.or_predicates])
    if p.type == P.CLAIM_PREDICATE_NOT:
        return xdr.ClaimPredicate(type=p.type, not_predicate=_absolute(p.not_predicate, now))
    return p


def predicate_holds(p: xdr.ClaimPredicate, now: int) -> bool:
    """Evaluate an (absolute) predicate at ledger close time ``now``."""
    P = xdr.ClaimPredicateType
    if p.type == P.CLAIM_PREDICATE_UNCONDITIONAL:
        return True
    if p.type == P.CLAIM_PREDICATE_AND:
        return all(predicate_holds(q, now) for q in p.and_predicates)
    if p.type == P.CLAIM_PREDICATE_OR:
        return any(predicate_holds(q, now) for q in p.or_predicates)
    if p.type == P.CLAIM_PREDICATE_NOT:
        return not predicate_holds(p.not_predicate, now)
    return now < p.abs_before.int64


def _create_balance(ctx: ApplyContext, b: xdr.OperationBody, source: str, index: int) -> Applied:
    st, o = ctx.state, b.create_claimable_balance_op
    asset, amount = asset_key(o.asset), o.amount.int64
    acc = st.account(source)
    if st.available_native(acc) < st.base_reserve * len(o.claimants):
        return _fail(T.CREATE_CLAIMABLE_BALANCE, "LOW_RESERVE")
    code = _debit_check(st, acc, asset, amount)
    if code:
        code = {"SRC_NO_TRUST": "NO_TRUST", "SRC_NOT_AUTHORIZED": "NOT_AUTHORIZED"}.get(code, code)
        return _fail(T.CREATE_CLAIMABLE_BALANCE, code)
    balance_id = balance_id_of(ctx.tx_source, ctx.tx_seq, index - 1)
    acc = st.mut(source)
    _move(acc, asset, -amount, ctx.ledger_seq)
    acc.num_sponsoring += len(o.claimants)
    _touch(acc, ctx)
    line = acc.trustlines.get(asset)
    st.add_balance(ClaimableBalance(
        balance_id=balance_id.to_xdr_bytes().hex(), asset=asset, amount=amount,
        claimants=[(account_id(c.v0.destination), _absolute(c.v0.predicate, ctx.close_time))
                   for c in o.claimants],
        sponsor=source, last_modified_ledger=ctx.ledger_seq, last_modified_time=ctx.close_time,
        clawback_enabled=bool(line and line.flags & TL_CLAWBACK_ENABLED),
    ))
    return Applied(op_result(T.CREATE_CLAIMABLE_BALANCE, "SUCCESS", balance_id=balance_id),
                   {"balance_id": balance_id.to_xdr_bytes().hex()})


def _claim_balance(ctx: ApplyContext, b: xdr.OperationBody, source: str, _i: int) -> Applied:
    st = ctx.state
    balance_id = b.claim_claimable_balance_op.balance_id.to_xdr_bytes().hex()
    cb = st.balances.get(balance_id)
    if cb is None:
        return _fail(T.CLAIM_CLAIMABLE_BALANCE, "DOES_NOT_EXIST")
    predicate = dict(cb.claimants).get(source)
    if predicate is None or not predicate_holds(predicate, ctx.close_time):
        return _fail(T.CLAIM_CLAIMABLE_BALANCE, "CANNOT_CLAIM")
    code = _credit_check(st, st.account(source), cb.asset, cb.amount)
    if code:
        return _fail(T.CLAIM_CLAIMABLE_BALANCE, code)
    acc = st.mut(source)
    _move(acc, cb.asset, cb.amount, ctx.ledger_seq)
    _touch(acc, ctx)
    sponsor = st.mut(cb.sponsor)
    if sponsor is not None:
        sponsor.num_sponsoring -= len(cb.claimants)
    st.remove_balance(balance_id)
    return Applied(op_result(T.CLAIM_CLAIMABLE_BALANCE, "SUCCESS"),
                   {"balance_id": balance_id, "asset": cb.asset, "amount": cb.amount})


def _set_line_flags(ctx: ApplyContext, source: str, trustor: str, asset: str, clear: int,
                    set_: int, op_type: xdr.OperationType) -> Applied:
    st = ctx.state
    holder = st.account(trustor)
    line = holder.trustlines.get(asset) if holder else None
    if line is None:
        return _fail(op_type, "NO_TRUST_LINE")
    issuer = st.account(source)
    was_authorized = line.flags & (TL_AUTHORIZED | TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES)
    flags = (line.flags & ~clear) | set_
    losing = was_authorized and not flags & TL_AUTHORIZED
    if losing and not issuer.flags & AUTH_REVOCABLE:
        return _fail(op_type, "CANT_REVOKE")
    both = TL_AUTHORIZED | TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES
    if flags & both == both:
        return _fail(op_type, "INVALID_STATE")
    holder = st.mut(trustor)
    holder.trustlines[asset].flags = flags
    holder.trustlines[asset].last_modified_ledger = ctx.ledger_seq
    _touch(holder, ctx)
    return _ok(op_type)


def _set_trust_line_flags(ctx: ApplyContext, b: xdr.OperationBody, source: str,
                          _i: int) -> Applied:
    o = b.set_trust_line_flags_op
    return _set_line_flags(ctx, source, account_id(o.trustor), asset_key(o.asset),
                           o.clear_flags.uint32, o.set_flags.uint32, T.SET_TRUST_LINE_FLAGS)


def _allow_trust(ctx: ApplyContext, b: xdr.OperationBody, source: str, _i: int) -> Applied:
    o = b.allow_trust_op
    code = o.asset
    raw = code.asset_code4.asset_code4 if code.asset_code4 else code.asset_code12.asset_code12
    asset = f"{raw.rstrip(bytes(1)).decode('ascii')}:{source}"
    return _set_line_flags(ctx, source, account_id(o.trustor), asset,
                           TL_AUTHORIZED | TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES,
                           o.authorize.uint32, T.ALLOW_TRUST)


def _ok(op_type: xdr.OperationType) -> Applied:
    return Applied(op_result(op_type, "SUCCESS"), {})


def _fail(op_type: xdr.OperationType, code: str) -> Applied:
    return Applied(op_result(op_type, code), {})


_APPLY = {
    T.CREATE_ACCOUNT: _create_account,
    T.PAYMENT: _payment,
    T.PATH_PAYMENT_STRICT_SEND: _strict_send,
    T.PATH_PAYMENT_STRICT_RECEIVE: _strict_receive,
    T.CHANGE_TRUST: _change_trust,
    T.SET_OPTIONS: _set_options,
    T.ACCOUNT_MERGE: _account_merge,
    T.MANAGE_DATA: _manage_data,
    T.BUMP_SEQUENCE: _bump_sequence,
    T.CREATE_CLAIMABLE_BALANCE: _create_balance,
    T.CLAIM_CLAIMABLE_BALANCE: _claim_balance,
    T.SET_TRUST_LINE_FLAGS: _set_trust_line_flags,
    T.ALLOW_TRUST: _allow_trust,
}
