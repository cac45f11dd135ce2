"""Horizon's problem+json error bodies (support/render/problem and render/problem in stellar/go).

Every error simnet returns goes through here, so clients always get a body the SDK can parse
into its exception types, never an aiohttp default page or a traceback.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

PROBLEM_TYPE = "https://stellar.org/horizon-errors/"
PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8"

NOT_FOUND_DETAIL = (
    "The resource at the url requested was not found.  This usually occurs for one of two "
    "reasons:  The url requested is not valid, or no data in our database could be found with "
    "the parameters provided.")
BAD_REQUEST_DETAIL = "The request you sent was invalid in some way."
TX_FAILED_DETAIL = (
    "The transaction failed when submitted to the stellar network. The `extras.result_codes` "
    "field on this response contains further details.  Descriptions of each code can be found "
    "at: https://developers.stellar.org/api/errors/http-status-codes/horizon-specific/"
    "transaction-failed/")
TX_MALFORMED_DETAIL = (
    "Horizon could not decode the transaction envelope in this request. A transaction should be "
    "an XDR TransactionEnvelope struct encoded using base64.  The envelope read from this "
    "request is echoed in the `extras.envelope_xdr` field of this response for your "
    "convenience.")
SUBMISSION_TIMEOUT_DETAIL = (
    "Your transaction submission request has timed out. This does not necessarily mean the "
    "submission has failed. Before resubmitting, please use the transaction hash provided in "
    "`extras.hash` to poll the GET /transactions endpoint for sometime and check if it was "
    "included in a ledger.")
SERVER_ERROR_DETAIL = (
    "An error occurred while processing this request.  This is usually due to a bug within the "
    "server software.  Trying this request again may succeed if the bug is transient, otherwise "
    "please report this issue to the issue tracker at: https://github.com/stellar/go/issues. "
    "Please include this response in your issue.")
STALE_HISTORY_DETAIL = (
    "This horizon instance is configured to reject client requests when it's db is out of "
    "date. In this case, the history database is 10 ledgers behind the current ledger. Please "
    "try again later.")
GATEWAY_DETAIL = "The server received an invalid response from an upstream server."


def problem(slug: str, status: int, title: str, detail: str,
            extras: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"type": PROBLEM_TYPE + slug, "title": title, "status": status,
                            "detail": detail}
    if extras is not None:
        body["extras"] = extras
    return web.Response(status=status, body=json.dumps(body, indent=2).encode(),
                        headers={"Content-Type": PROBLEM_CONTENT_TYPE})


def not_found() -> web.Response:
    return problem("not_found", 404, "Resource Missing", NOT_FOUND_DETAIL)


def bad_request(field: str, reason: str) -> web.Response:
    return problem("bad_request", 400, "Bad Request", BAD_REQUEST_DETAIL,
                   {"invalid_field": field, "reason": reason})


def transaction_malformed(envelope_xdr: str) -> web.Response:
    return problem("transaction_malformed", 400, "Transaction Malformed", TX_MALFORMED_DETAIL,
                   {"envelope_xdr": envelope_xdr})


def transaction_failed(envelope_xdr: str, result_xdr: str,
                       result_codes: dict[str, Any]) -> web.Response:
    return problem("transaction_failed", 400, "Transaction Failed", TX_FAILED_DETAIL,
                   {"envelope_xdr": envelope_xdr, "result_codes": result_codes,
                    "result_xdr": result_xdr})


def submission_timeout(tx_hash: str, envelope_xdr: str) -> web.Response:
    return problem("transaction_submission_timeout", 504, "Transaction Submission Timeout",
                   SUBMISSION_TIMEOUT_DETAIL, {"hash": tx_hash, "envelope_xdr": envelope_xdr})


def server_error(status: int = 500) -> web.Response:
    """The 5xx bodies Horizon (or the proxy in front of it) answers with."""
    if status == 503:
        return problem("stale_history", 503, "Historical DB Is Too Stale", STALE_HISTORY_DETAIL)
    if status == 502:
        return problem("bad_gateway", 502, "Bad Gateway", GATEWAY_DETAIL)
    if status == 504:
        return problem("timeout", 504, "Timeout",
                       "Your request timed out before completing.  Please try your request "
                       "again. If you are submitting a transaction make sure you are sending "
                       "exactly the same transaction (with the same sequence number).")
    return problem("server_error", status, "Internal Server Error", SERVER_ERROR_DETAIL)


def not_acceptable() -> web.Response:
    return problem("not_acceptable", 406,
                   "An acceptable response content-type could not be provided for this request",
                   "The Accept header on your request did not match any of the content types "
                   "this endpoint can produce.")


def method_not_allowed() -> web.Response:
    return problem("method_not_allowed", 405, "Method Not Allowed",
                   "This endpoint does not support the request method you used.")


def unsupported_media_type() -> web.Response:
    return problem("unsupported_media_type", 415, "Unsupported Media Type",
                   "The request has an unsupported content type. Presently, the only supported "
                   "content type is application/x-www-form-urlencoded.")


RATE_LIMIT_DETAIL = (
    "The rate limit for the requesting IP address is over its alloted limit.  The allowed limit "
    "and requests left per time period are communicated to clients via the http response "
    "headers 'X-RateLimit-*' headers.")


def rejected(status: int) -> web.Response:
    """A 4xx without result codes: a rate limiter, an access rule or a size limit said no."""
    if status == 429:
        return problem("rate_limit_exceeded", 429, "Rate Limit Exceeded", RATE_LIMIT_DETAIL)
    if status == 403:
        return problem("forbidden", 403, "Forbidden",
                       "You are not authorized to perform this request.")
    if status == 413:
        return problem("request_entity_too_large", 413, "Request Entity Too Large",
                       "The request body is larger than this server accepts.")
    return not_found() if status == 404 else server_error(status)
