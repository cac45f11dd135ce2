"""Admission checks for a transaction, in stellar-core's order.

``admit`` returns None when the transaction may enter the queue, or the TransactionResult core
would answer with (status ERROR: nothing is charged and the sequence number is not consumed).
``still_valid`` re-checks what can change between admission and ledger close.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from stellar_sdk import StrKey, xdr

from . import strkeys
from .envelopes import Envelope
from .ledger import Account, LedgerState
from .operations import HIGH, LOW, MED, check_op, default_success, op_source, threshold_level
from .results import TxCode, fee_bump_result, op_top_result, tx_result

MAX_OPS = 100


@lru_cache(maxsize=65536)
def _raw_signer(strkey: str) -> bytes:
    if strkey.startswith("T"):
        return StrKey.decode_pre_auth_tx(strkey)
    return StrKey.decode_sha256_hash(strkey)


def _raw_key(strkey: str) -> bytes:
    return _raw_signer(strkey) if strkey[0] in "TX" else strkeys.raw_key(strkey)


class SignatureChecker:
    """Matches decorated signatures to an account's signers, remembering which were used."""

    def __init__(self, tx_hash: bytes, signatures: list[xdr.DecoratedSignature]) -> None:
        self.tx_hash = tx_hash
        self.sigs = [(s.hint.signature_hint, s.signature.signature) for s in signatures]
        self.used = [False] * len(self.sigs)
        self._weights: dict[str, int] = {}

    def _matches(self, key: str) -> bool:
        raw = _raw_key(key)
        if key.startswith("T"):
            return raw == self.tx_hash
        hint, found = raw[-4:], False
        for i, (sig_hint, sig) in enumerate(self.sigs):
            if sig_hint != hint:
                continue
            if key.startswith("X"):
                ok = hashlib.sha256(sig).digest() == raw
            else:
                ok = strkeys.verify(raw, self.tx_hash, sig)
            if ok:
                self.used[i] = found = True
        return found

    def signed_by(self, account_id: str) -> bool:
        """Core's checkSignatureNoAccount: the account's own key signed (it may not exist yet)."""
        return self._matches(account_id)

    def weight(self, account: Account) -> int:
        """Total weight of the account's signers that signed (capped at 255 as in core)."""
        if account.account_id not in self._weights:
            signers = dict(account.signers)
            if account.master_weight:
                signers[account.account_id] = account.master_weight
            total = sum(w for key, w in signers.items() if w and self._matches(key))
            self._weights[account.account_id] = min(total, 255)
        return self._weights[account.account_id]

    def meets(self, account: Account, level: str) -> bool:
        needed = {LOW: account.low_threshold, MED: account.med_threshold,
                  HIGH: account.high_threshold}[level]
        weight = self.weight(account)
        return weight > 0 and weight >= needed

    def all_used(self) -> bool:
        return all(self.used)


def min_fee(env: Envelope, base_fee: int) -> int:
    return base_fee * env.fee_ops


def time_code(env: Envelope, close_time: int) -> TxCode | None:
    """tx_too_early / tx_too_late against a ledger close time."""
    bounds = env.time_bounds
    if bounds is None:
        return None
    low, high = bounds
    if low and low > close_time:
        return TxCode.txTOO_EARLY
    if high and high < close_time:
        return TxCode.txTOO_LATE
    return None


def _ledger_code(env: Envelope, next_ledger: int) -> TxCode | None:
    v2 = env.v2
    if v2 is None or v2.ledger_bounds is None:
        return None
    lb = v2.ledger_bounds
    if lb.min_ledger.uint32 > next_ledger:
        return TxCode.txTOO_EARLY
    if lb.max_ledger.uint32 and lb.max_ledger.uint32 <= next_ledger:
        return TxCode.txTOO_LATE
    return None


def seq_ok(env: Envelope, account: Account) -> bool:
    """Core's sequence rule, including the minSeqNum precondition."""
    v2 = env.v2
    if v2 is not None and v2.min_seq_num is not None:
        low = v2.min_seq_num.sequence_number.int64
        return low <= account.seq < env.seq
    return env.seq == account.seq + 1


def _inner_check(env: Envelope, st: LedgerState, now: int, next_ledger: int,
                 base_fee: int, check_fee: bool, fee_charged: int) -> xdr.TransactionResult | None:
    """Core's checkValid for a (possibly inner) transaction."""
    def fail(code: TxCode, ops: list[xdr.OperationResult] | None = None) -> xdr.TransactionResult:
        return tx_result(fee_charged, code, ops)

    if not env.ops:
        return fail(TxCode.txMISSING_OPERATION)
    if len(env.ops) > MAX_OPS:
        return fail(TxCode.txMALFORMED)
    if env.seq < 0:
        return tx_result(0, TxCode.txBAD_SEQ)
    code = time_code(env, now) or _ledger_code(env, next_ledger)
    if code:
        return fail(code)
    if check_fee and env.fee < base_fee * len(env.ops):
        return fail(TxCode.txINSUFFICIENT_FEE)
    source = st.account(env.source)
    if source is None:
        return fail(TxCode.txNO_ACCOUNT)
    if not seq_ok(env, source):
        return fail(TxCode.txBAD_SEQ)
    checker = SignatureChecker(env.tx_hash, env.signatures)
    if not checker.meets(source, LOW):
        return fail(TxCode.txBAD_AUTH)
    if check_fee and st.available_native(source) < env.fee:
        return fail(TxCode.txINSUFFICIENT_BALANCE)
    failures: list[xdr.OperationResult | None] = []
    for op in env.ops:
        src_id = op_source(op, env.source)
        src = st.account(src_id)
        if src is None and not op.source_account:
            res = op_top_result(xdr.OperationResultCode.opNO_ACCOUNT)
        elif src is None:
            # An earlier operation may create it (core's checkSignatureNoAccount); whether it
            # exists is settled when the operation applies.
            res = (check_op(op, src_id) if checker.signed_by(src_id)
                   else op_top_result(xdr.OperationResultCode.opBAD_AUTH))
        elif not checker.meets(src, threshold_level(op)):
            res = op_top_result(xdr.OperationResultCode.opBAD_AUTH)
        else:
            res = check_op(op, src_id)
        failures.append(res)
    if any(res is not None for res in failures):
        # Operations that passed get the zero-valued SUCCESS result, as in core's answer.
        return fail(TxCode.txFAILED, [default_success(op) if res is None else res
                                      for op, res in zip(env.ops, failures, strict=True)])
    if not checker.all_used():
        return fail(TxCode.txBAD_AUTH_EXTRA)
    return None


def admit(env: Envelope, st: LedgerState, now: int, next_ledger: int,
          base_fee: int) -> xdr.TransactionResult | None:
    """None if the transaction may be queued, else core's ERROR result."""
    fee = min_fee(env, base_fee)
    if not env.is_fee_bump:
        return _inner_check(env, st, now, next_ledger, base_fee, True, fee)
    if env.outer_fee < fee or env.outer_fee * len(env.ops) < env.fee * env.fee_ops:
        return tx_result(fee, TxCode.txINSUFFICIENT_FEE)
    fee_source = st.account(env.fee_source)
    if fee_source is None:
        return tx_result(fee, TxCode.txNO_ACCOUNT)
    if not SignatureChecker(env.hash, env.outer_signatures).meets(fee_source, LOW):
        return tx_result(fee, TxCode.txBAD_AUTH)
    if st.available_native(fee_source) < env.outer_fee:
        return tx_result(fee, TxCode.txINSUFFICIENT_BALANCE)
    inner = _inner_check(env, st, now, next_ledger, base_fee, False, 0)
    return None if inner is None else fee_bump_result(fee, env.inner_hash, inner)


def still_valid(env: Envelope, st: LedgerState, close_time: int) -> TxCode | None:
    """What can change while queued: the source, its sequence number and the time bounds."""
    source = st.account(env.source)
    if source is None:
        return TxCode.txNO_ACCOUNT
    if not seq_ok(env, source):
        return TxCode.txBAD_SEQ
    fee_source = st.account(env.fee_source)
    if fee_source is None:
        return TxCode.txNO_ACCOUNT
    return time_code(env, close_time)
