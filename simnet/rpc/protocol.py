"""JSON-RPC 2.0 errors, parameter checks and event cursors, as stellar-rpc writes them.

stellar-rpc answers every request with HTTP 200 and puts failures in the JSON-RPC ``error``
object; the codes are jrpc2's. Parameter checks mirror the Go structs the server decodes into
(unknown fields are ignored, wrong types are -32602), so a client that works here sends what
the real server accepts.
"""

from __future__ import annotations

from typing import Any

from ..units import toid

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
DEADLINE_EXCEEDED = -32001  # stellar-rpc's per-method request timeout

MESSAGES = {
    PARSE_ERROR: "parse error",
    INVALID_REQUEST: "invalid request",
    METHOD_NOT_FOUND: "method not found",
    INVALID_PARAMS: "invalid parameters",
    INTERNAL_ERROR: "internal error",
    DEADLINE_EXCEEDED: "request timed out",
}

TX_MASK = (1 << 20) - 1  # toid's transaction bits
OP_MASK = (1 << 12) - 1  # toid's operation bits
EVENT_MAX = 2**32 - 1


class RpcError(Exception):
    """A JSON-RPC error object: ``code`` and ``message``."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message or MESSAGES[code])
        self.code = code
        self.message = message or MESSAGES[code]


def invalid(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


def uint(params: dict[str, Any], name: str, default: int = 0) -> int:
    """An optional unsigned 32-bit field (Go's ``uint32``/``uint``; 0 when absent)."""
    value = params.get(name)
    if value is None:
        return default
    if type(value) is not int or not 0 <= value <= 2**32 - 1:
        raise invalid(f"invalid parameters: json: cannot unmarshal {_json_type(value)} into "
                      f"field {name} of type uint32")
    return value


def text(params: dict[str, Any], name: str) -> str:
    """An optional string field ("" when absent)."""
    value = params.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"invalid parameters: json: cannot unmarshal {_json_type(value)} into "
                      f"field {name} of type string")
    return value


def obj(params: dict[str, Any], name: str) -> dict[str, Any]:
    """An optional object field ({} when absent)."""
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"invalid parameters: json: cannot unmarshal {_json_type(value)} into "
                      f"field {name} of type object")
    return value


def strings(params: dict[str, Any], name: str) -> list[str]:
    """An optional list of strings ([] when absent)."""
    value = params.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"invalid parameters: json: cannot unmarshal {_json_type(value)} into "
                      f"field {name} of type []string")
    return value


def check_format(params: dict[str, Any]) -> None:
    """``xdrFormat``: simnet answers base64 XDR only (the default); "json" is refused."""
    fmt = text(params, "xdrFormat")
    if fmt not in ("", "base64"):
        raise invalid(f"expected 'base64' for 'xdrFormat', got '{fmt}'"
                      if fmt != "json" else "simnet does not serve xdrFormat 'json'")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# --- event cursors ---------------------------------------------------------------------------


Position = tuple[int, int, int, int]  # ledger, transaction index, operation index, event index


def cursor_text(pos: Position) -> str:
    """stellar-rpc's event id: the TOID in 19 digits, a dash, the event index in 10."""
    ledger, tx, op, event = pos
    return f"{toid(ledger, tx, op):019d}-{event:010d}"


def parse_cursor(value: str) -> Position:
    """The position an event id names; -32602 for anything else."""
    head, sep, tail = value.partition("-")
    if not sep or not head.lstrip("-").isdigit() or not tail.isdigit():
        raise invalid(f"invalid parameters: invalid event id {value}")
    number, event = int(head), int(tail)
    if number < 0 or event > EVENT_MAX:
        raise invalid(f"invalid parameters: invalid event id {value}")
    return number >> 32, (number >> 12) & TX_MASK, number & OP_MASK, event


def end_of(ledger: int) -> Position:
    """The largest position inside ``ledger`` (the cursor of an exhausted search window)."""
    return ledger, TX_MASK, OP_MASK, EVENT_MAX
