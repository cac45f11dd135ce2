"""Result XDR and Horizon's result-code strings.

Everything that leaves simnet as ``result_xdr`` or ``extras.result_codes`` is built here, from
stellar-sdk's XDR classes, so a client decoding it sees exactly what stellar-core would write.
"""

from __future__ import annotations

from stellar_sdk import xdr

TxCode = xdr.TransactionResultCode
OpType = xdr.OperationType

# operation type -> (union arm on OperationResultTr, result class, code enum, enum-name prefix)
_OP_RESULTS: dict[OpType, tuple[str, type, type, str]] = {
    OpType.CREATE_ACCOUNT: (
        "create_account_result", xdr.CreateAccountResult, xdr.CreateAccountResultCode,
        "CREATE_ACCOUNT_"),
    OpType.PAYMENT: ("payment_result", xdr.PaymentResult, xdr.PaymentResultCode, "PAYMENT_"),
    OpType.PATH_PAYMENT_STRICT_RECEIVE: (
        "path_payment_strict_receive_result", xdr.PathPaymentStrictReceiveResult,
        xdr.PathPaymentStrictReceiveResultCode, "PATH_PAYMENT_STRICT_RECEIVE_"),
    OpType.PATH_PAYMENT_STRICT_SEND: (
        "path_payment_strict_send_result", xdr.PathPaymentStrictSendResult,
        xdr.PathPaymentStrictSendResultCode, "PATH_PAYMENT_STRICT_SEND_"),
    OpType.SET_OPTIONS: (
        "set_options_result", xdr.SetOptionsResult, xdr.SetOptionsResultCode, "SET_OPTIONS_"),
    OpType.CHANGE_TRUST: (
        "change_trust_result", xdr.ChangeTrustResult, xdr.ChangeTrustResultCode,
        "CHANGE_TRUST_"),
    OpType.ALLOW_TRUST: (
        "allow_trust_result", xdr.AllowTrustResult, xdr.AllowTrustResultCode, "ALLOW_TRUST_"),
    OpType.ACCOUNT_MERGE: (
        "account_merge_result", xdr.AccountMergeResult, xdr.AccountMergeResultCode,
        "ACCOUNT_MERGE_"),
    OpType.MANAGE_DATA: (
        "manage_data_result", xdr.ManageDataResult, xdr.ManageDataResultCode, "MANAGE_DATA_"),
    OpType.BUMP_SEQUENCE: (
        "bump_seq_result", xdr.BumpSequenceResult, xdr.BumpSequenceResultCode,
        "BUMP_SEQUENCE_"),
    OpType.CREATE_CLAIMABLE_BALANCE: (
        "create_claimable_balance_result", xdr.CreateClaimableBalanceResult,
        xdr.CreateClaimableBalanceResultCode, "CREATE_CLAIMABLE_BALANCE_"),
    OpType.CLAIM_CLAIMABLE_BALANCE: (
        "claim_claimable_balance_result", xdr.ClaimClaimableBalanceResult,
        xdr.ClaimClaimableBalanceResultCode, "CLAIM_CLAIMABLE_BALANCE_"),
    OpType.SET_TRUST_LINE_FLAGS: (
        "set_trust_line_flags_result", xdr.SetTrustLineFlagsResult,
        xdr.SetTrustLineFlagsResultCode, "SET_TRUST_LINE_FLAGS_"),
}

SUPPORTED_OPS = frozenset(_OP_RESULTS)

# Horizon's strings (codes/main.go) where they are not simply "op_" + the lower-cased suffix.
_OP_STRING_OVERRIDES = {
    "ALREADY_EXIST": "op_already_exists",
    "OVER_SENDMAX": "op_over_source_max",
    "UNDER_DESTMIN": "op_under_dest_min",
    "OFFER_CROSS_SELF": "op_cross_self",
    "NOT_AUTH_MAINTAIN_LIABILITIES": "op_not_aut_maintain_liabilities",
    "SEQNUM_TOO_FAR": "op_seq_num_too_far",
    "NAME_NOT_FOUND": "op_data_name_not_found",
    "INVALID_NAME": "op_data_invalid_name",
    "TRUST_NOT_REQUIRED": "op_not_required",
}
_TOP_OP_STRINGS = {
    xdr.OperationResultCode.opBAD_AUTH: "op_bad_auth",
    xdr.OperationResultCode.opNO_ACCOUNT: "op_no_source_account",
    xdr.OperationResultCode.opNOT_SUPPORTED: "op_not_supported",
    xdr.OperationResultCode.opTOO_MANY_SUBENTRIES: "op_too_many_subentries",
    xdr.OperationResultCode.opEXCEEDED_WORK_LIMIT: "op_exceeded_work_limit",
    xdr.OperationResultCode.opTOO_MANY_SPONSORING: "op_too_many_sponsoring",
}
_TX_STRINGS = {
    TxCode.txFEE_BUMP_INNER_SUCCESS: "tx_fee_bump_inner_success",
    TxCode.txSUCCESS: "tx_success",
    TxCode.txFAILED: "tx_failed",
    TxCode.txTOO_EARLY: "tx_too_early",
    TxCode.txTOO_LATE: "tx_too_late",
    TxCode.txMISSING_OPERATION: "tx_missing_operation",
    TxCode.txBAD_SEQ: "tx_bad_seq",
    TxCode.txBAD_AUTH: "tx_bad_auth",
    TxCode.txINSUFFICIENT_BALANCE: "tx_insufficient_balance",
    TxCode.txNO_ACCOUNT: "tx_no_source_account",
    TxCode.txINSUFFICIENT_FEE: "tx_insufficient_fee",
    TxCode.txBAD_AUTH_EXTRA: "tx_bad_auth_extra",
    TxCode.txINTERNAL_ERROR: "tx_internal_error",
    TxCode.txNOT_SUPPORTED: "tx_not_supported",
    TxCode.txFEE_BUMP_INNER_FAILED: "tx_fee_bump_inner_failed",
    TxCode.txBAD_SPONSORSHIP: "tx_bad_sponsorship",
    TxCode.txBAD_MIN_SEQ_AGE_OR_GAP: "tx_bad_minseq_age_or_gap",
    TxCode.txMALFORMED: "tx_malformed",
}


def op_result(op_type: OpType, code: str, **payload: object) -> xdr.OperationResult:
    """An inner operation result, e.g. ``op_result(OpType.PAYMENT, "NO_TRUST")``."""
    arm, result_cls, code_enum, prefix = _OP_RESULTS[op_type]
    result = result_cls(code=code_enum[prefix + code], **payload)
    tr = xdr.OperationResultTr(type=op_type, **{arm: result})
    return xdr.OperationResult(code=xdr.OperationResultCode.opINNER, tr=tr)


def op_top_result(code: xdr.OperationResultCode) -> xdr.OperationResult:
    """An operation-level failure that is not op-specific (op_bad_auth, op_no_source_account)."""
    return xdr.OperationResult(code=code)


def op_succeeded(result: xdr.OperationResult) -> bool:
    """True when the operation result is its type's SUCCESS code."""
    if result.code != xdr.OperationResultCode.opINNER:
        return False
    arm, _, _, _ = _OP_RESULTS[result.tr.type]
    return getattr(result.tr, arm).code.value == 0


def op_code_string(result: xdr.OperationResult) -> str:
    """Horizon's string for one operation result (``op_success``, ``op_no_trust``, ...)."""
    if result.code != xdr.OperationResultCode.opINNER:
        return _TOP_OP_STRINGS[result.code]
    arm, _, _, prefix = _OP_RESULTS[result.tr.type]
    suffix = getattr(result.tr, arm).code.name[len(prefix):]
    return _OP_STRING_OVERRIDES.get(suffix, "op_" + suffix.lower())


def tx_code_string(code: TxCode) -> str:
    """Horizon's string for a transaction result code."""
    return _TX_STRINGS[code]


def tx_result(
    fee_charged: int, code: TxCode, op_results: list[xdr.OperationResult] | None = None
) -> xdr.TransactionResult:
    """A plain (not fee-bump) TransactionResult."""
    results = op_results if code in (TxCode.txSUCCESS, TxCode.txFAILED) else None
    return xdr.TransactionResult(
        fee_charged=xdr.Int64(fee_charged),
        result=xdr.TransactionResultResult(code=code, results=results),
        ext=xdr.TransactionResultExt(0),
    )


def fee_bump_result(
    fee_charged: int, inner_hash: bytes, inner: xdr.TransactionResult
) -> xdr.TransactionResult:
    """Wrap an inner transaction's result the way core reports a fee-bump envelope."""
    inner_code = inner.result.code
    outer_code = (
        TxCode.txFEE_BUMP_INNER_SUCCESS if inner_code == TxCode.txSUCCESS
        else TxCode.txFEE_BUMP_INNER_FAILED
    )
    pair = xdr.InnerTransactionResultPair(
        transaction_hash=xdr.Hash(inner_hash),
        result=xdr.InnerTransactionResult(
            fee_charged=xdr.Int64(0),
            result=xdr.InnerTransactionResultResult(code=inner_code, results=inner.result.results),
            ext=xdr.InnerTransactionResultExt(0),
        ),
    )
    return xdr.TransactionResult(
        fee_charged=xdr.Int64(fee_charged),
        result=xdr.TransactionResultResult(code=outer_code, inner_result_pair=pair),
        ext=xdr.TransactionResultExt(0),
    )


def result_codes(result: xdr.TransactionResult) -> dict[str, object]:
    """``extras.result_codes`` as Horizon renders it (txsub/errors.go)."""
    res = result.result
    codes: dict[str, object] = {"transaction": tx_code_string(res.code)}
    op_results = res.results
    if res.inner_result_pair is not None:
        inner = res.inner_result_pair.result.result
        codes["inner_transaction"] = tx_code_string(inner.code)
        op_results = inner.results
    if op_results and res.code != TxCode.txSUCCESS and res.code != (
        TxCode.txFEE_BUMP_INNER_SUCCESS
    ):
        codes["operations"] = [op_code_string(r) for r in op_results]
    return codes


def is_success(result: xdr.TransactionResult) -> bool:
    """True for txSUCCESS and txFEE_BUMP_INNER_SUCCESS."""
    return result.result.code in (TxCode.txSUCCESS, TxCode.txFEE_BUMP_INNER_SUCCESS)
