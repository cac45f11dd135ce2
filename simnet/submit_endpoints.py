"""POST /transactions (synchronous) and POST /transactions_async, as Horizon answers them.

Synchronous submission looks the hash up first (a resubmitted, already-applied transaction gets
its stored result), then asks the network, then waits until the ledger that includes it closes
or ``submission_timeout`` (counted from the first submission of that hash) runs out: 504.
Submission faults are applied here because some of them let the transaction through.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from stellar_sdk import xdr

from . import problems
from .context import ctx_of, hal
from .envelopes import Envelope, MalformedEnvelope, decode
from .faults import SUBMIT_KINDS, Fault, reset_connection
from .history import TxRecord
from .network import DUPLICATE, ERROR, PENDING, TRY_AGAIN_LATER
from .resources import transaction
from .results import TxCode, result_codes, tx_result
from .txvalidate import min_fee

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "")
_TX_CODES = {"tx_too_late": "txTOO_LATE", "tx_bad_seq": "txBAD_SEQ"}
ASYNC_STATUS = {PENDING: 201, DUPLICATE: 409, TRY_AGAIN_LATER: 503, ERROR: 400}


async def _read_envelope(request: web.Request) -> Envelope | web.Response:
    if request.content_type not in FORM_TYPES:
        return problems.unsupported_media_type()
    form = await request.post()
    raw = form.get("tx", "")
    if not isinstance(raw, str) or not raw.strip():
        return problems.transaction_malformed("")
    try:
        return decode(raw, ctx_of(request).net.passphrase)
    except MalformedEnvelope:
        return problems.transaction_malformed(raw)


def _final(request: web.Request, outcome: TxRecord | xdr.TransactionResult,
           env: Envelope) -> web.Response:
    """200 with the Transaction resource, or 400 transaction_failed with the result codes."""
    if isinstance(outcome, TxRecord):
        if outcome.successful:
            base = f"{request.scheme}://{request.host}"
            return hal(transaction(outcome, base, env.hash_hex))
        return problems.transaction_failed(env.envelope_xdr, outcome.result_xdr,
                                           result_codes(outcome.result))
    return problems.transaction_failed(env.envelope_xdr, outcome.to_xdr(), result_codes(outcome))


def _fault_response(request: web.Request, fault: Fault, env: Envelope) -> web.Response:
    if fault.kind == "submit_timeout":
        return problems.submission_timeout(env.hash_hex, env.envelope_xdr)
    if fault.kind == "submit_error":
        return problems.server_error(fault.params["status"])
    if fault.kind == "submit_rejected":
        return problems.rejected(fault.params["status"])
    reset_connection(request)
    return web.Response(status=500)


async def post_transaction(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    net = ctx.net
    env = await _read_envelope(request)
    if isinstance(env, web.Response):
        return env
    fault = ctx.faults.take(SUBMIT_KINDS, "submit", request.path)
    if fault is not None and not fault.params["applied"]:
        return _fault_response(request, fault, env)
    record = net.lookup(env.hash_hex)
    if record is not None:
        if fault is not None:
            return _fault_response(request, fault, env)
        refused = ctx.faults.take(("resubmit_refused",), "submit", request.path)
        if refused is not None:
            return _final(request, tx_result(min_fee(env, net.base_fee),
                                             TxCode[_TX_CODES[refused.params["code"]]]), env)
        return _final(request, record, env)
    admission = net.submit(env)
    if admission.status == ERROR:
        return _final(request, admission.error, env)
    future = net.watch(env)
    if fault is not None:
        return _fault_response(request, fault, env)
    waited = time.monotonic() - (net.first_seen(env.hash_hex) or time.monotonic())
    try:
        outcome = await asyncio.wait_for(asyncio.shield(future),
                                         max(0.0, ctx.settings.submission_timeout - waited))
    except TimeoutError:
        net.forget(env.hash_hex)
        return problems.submission_timeout(env.hash_hex, env.envelope_xdr)
    return _final(request, outcome, env)


async def post_transaction_async(request: web.Request) -> web.Response:
    """Admit without waiting: 201 PENDING, 409 DUPLICATE, 503 TRY_AGAIN_LATER, 400 ERROR.

    The submission faults apply here as on the synchronous endpoint (what stands in front of
    Horizon answers the same way whichever endpoint is behind it): a 504, a 5xx or a 429 without
    result codes, before or after the transaction was let in, and a refused resubmission.
    """
    ctx = ctx_of(request)
    net = ctx.net
    env = await _read_envelope(request)
    if isinstance(env, web.Response):
        return env
    fault = ctx.faults.take(SUBMIT_KINDS, "submit", request.path)
    if fault is not None and not fault.params["applied"]:
        return _fault_response(request, fault, env)
    if net.lookup(env.hash_hex) is not None and fault is None:
        refused = ctx.faults.take(("resubmit_refused",), "submit", request.path)
        if refused is not None:
            result = tx_result(min_fee(env, net.base_fee), TxCode[_TX_CODES[refused.params["code"]]])
            return hal({"tx_status": ERROR, "hash": env.hash_hex,
                        "error_result_xdr": result.to_xdr()}, ASYNC_STATUS[ERROR])
    admission = net.submit(env)
    if fault is not None:
        return _fault_response(request, fault, env)
    body = {"tx_status": admission.status, "hash": env.hash_hex}
    if admission.error is not None:
        body["error_result_xdr"] = admission.error.to_xdr()
    return hal(body, ASYNC_STATUS[admission.status])
