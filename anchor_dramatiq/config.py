"""Configuration from ``ANCHOR_*`` environment variables, typed and validated once at start.

Every variable is declared once, as a field of :class:`Settings` (name, type, parser,
default, help); :data:`VARIABLES` lists them, and the README's configuration table and
``anchor-dramatiq config`` are both made from it. A bad
value raises :class:`ConfigError` whose message names the variable and what it expects;
entry points turn that into one line on stderr and exit status 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from stellar_sdk import StrKey

from anchor_dramatiq.crypto import Secret
from anchor_dramatiq.errors import ConfigError, InvalidSeedError
from anchor_dramatiq.schedule import Schedule, ScheduleError
from anchor_dramatiq.stellar.keys import keypair_from_seed
from anchor_dramatiq.vocabulary import AmountPolicy, NetworkApi

DEFAULT_PASSPHRASE = "Standalone Network ; February 2017"
SANDBOX_RAILS = "anchor_dramatiq.integrations.sandbox:SandboxRails"


Parser = Callable[[str], Any]


def _url(*schemes: str) -> Parser:
    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            raise ValueError(f"a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return raw

    return parse


def _ranged(convert: Callable[[str], Any], low: Any, high: Any, expected: str) -> Parser:
    def parse(raw: str) -> Any:
        try:
            value = convert(raw)
        except ValueError:
            raise ValueError(expected) from None
        if not low <= value <= high:
            raise ValueError(expected)
        return value

    return parse


def _int(low: int, high: int) -> Parser:
    return _ranged(int, low, high, f"a whole number from {low} to {high}")


def _seconds(low: float, high: float) -> Parser:
    return _ranged(float, low, high, f"a number of seconds from {low:g} to {high:g}")


def _amount(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError("a decimal amount such as 2.01") from None
    exponent = value.as_tuple().exponent  # an int for every finite value
    if not value.is_finite() or value < 0 or (isinstance(exponent, int) and exponent < -7):
        raise ValueError("a non-negative decimal amount with at most 7 decimal places")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("true or false")


def _choice(*options: str) -> Parser:
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError("one of " + ", ".join(options))
        return raw

    return parse


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("a non-empty value")
    return raw


def _secret_key(raw: str) -> Secret:
    if len(raw) < 16:
        raise ValueError("a secret of at least 16 characters (the Django SECRET_KEY Polaris used)")
    return Secret(raw)


def _stellar_seed(raw: str) -> Secret:
    seed = Secret(raw)
    try:
        keypair_from_seed(seed, "ANCHOR_SIGNING_SEED")
    except InvalidSeedError:  # its message has no seed, and it chains nothing that has
        raise ValueError("a Stellar secret seed (S...)") from None
    return seed


def _import_path(raw: str) -> str:
    module, sep, attr = raw.partition(":")
    if not sep or not module or not attr.isidentifier():
        raise ValueError("an import path like package.module:ClassName")
    return raw


def _schedule(raw: str) -> Schedule:
    try:
        return Schedule.parse(raw)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None


def _accounts(raw: str) -> frozenset[str]:
    found = frozenset(part.strip() for part in raw.split(",") if part.strip())
    for account in found:
        if not StrKey.is_valid_ed25519_public_key(account):
            raise ValueError("Stellar account ids (G...) separated by commas")
    return found


def _amount_policy(raw: str) -> tuple[tuple[str, str], ...]:
    """``accept``, ``hold``, or per asset code: ``USDC=hold,*=accept`` (``*`` = the others)."""
    policies = tuple(AmountPolicy)
    expected = "accept, hold, or CODE=accept|hold pairs separated by commas (* = any other asset)"
    if raw in policies:
        return (("*", raw),)
    found: dict[str, str] = {}
    for part in raw.split(","):
        code, sep, policy = part.strip().partition("=")
        if not sep or not code.strip() or policy.strip() not in policies:
            raise ValueError(expected)
        found[code.strip()] = policy.strip()
    return tuple(found.items())


def _cursor(raw: str) -> str:
    if raw != "now" and not raw.isdigit():
        raise ValueError("'now' or a Horizon paging token (digits)")
    return raw


@dataclass(frozen=True)
class Variable:
    """One ``ANCHOR_*`` variable: its field on :class:`Settings`, parser, default and meaning."""

    field: str
    parse: Parser
    default: str | None
    help: str

    @property
    def env(self) -> str:
        return "ANCHOR_" + self.field.upper()


def setting(parse: Parser, default: str | None, help: str) -> Any:
    """Declare one :class:`Settings` field: how ``ANCHOR_<NAME>`` is parsed, its default, its help."""
    return field(metadata={"parse": parse, "default": default, "help": help})


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one process: each ``ANCHOR_*`` variable is one field,
    declared once with its type, parser, default (as the text an operator would set) and help."""

    database_url: str = setting(
        _url("sqlite", "postgresql", "postgres"), "sqlite:///anchor.sqlite3",
        "Database: sqlite:///path or postgresql://user:pass@host:port/db")
    broker_url: str | None = setting(
        _url("amqp", "amqps"), None,
        "RabbitMQ URL with pika options in the query string; unset = in-process broker "
        "(only for `anchor-dramatiq run`/`demo` and tests)")
    horizon_url: str = setting(
        _url("http", "https"), "http://127.0.0.1:8000", "Horizon (or simnet) URL")
    network_api: str = setting(
        _choice(*NetworkApi), NetworkApi.HORIZON.value,
        "Which Stellar API the jobs use: horizon or rpc (Stellar RPC at ANCHOR_RPC_URL; "
        "see docs/network.md)")
    rpc_url: str | None = setting(
        _url("http", "https"), None,
        "Stellar RPC URL (JSON-RPC endpoint); required when ANCHOR_NETWORK_API=rpc")
    network_passphrase: str = setting(
        _text, DEFAULT_PASSPHRASE, "Stellar network passphrase")
    secret_key: Secret | None = setting(
        _secret_key, None,
        "Key that encrypts seeds in the database: the Django SECRET_KEY of a Polaris deployment")
    signing_seed: Secret | None = setting(
        _stellar_seed, None,
        "SEP-10 signing seed; signs wallet callbacks (Signature header)")
    rails: str = setting(
        _import_path, SANDBOX_RAILS, "Rails integration class, module:Class")
    max_fee_stroops: int = setting(
        _int(100, 100_000_000), "10000",
        "Highest fee per operation the anchor bids, in stroops")
    tx_timeout: int = setting(
        _int(10, 3600), "60",
        "Seconds a built Stellar transaction stays valid (its max time)")
    batch_size: int = setting(
        _int(1, 100), "100",
        "Most deposits paid by one Stellar transaction (at most 100 operations either way)")
    channel_count: int = setting(
        _int(0, 1000), "0",
        "Channel accounts `anchor-dramatiq channels ensure` keeps")
    account_creation: bool = setting(
        _bool, "true",
        "Create missing destination accounts (else the deposit waits in pending_user)")
    account_starting_balance: Decimal = setting(
        _amount, "2.01", "XLM given to a created account")
    claimable_balances: bool = setting(
        _bool, "true",
        "Pay with a claimable balance when the wallet supports it and there is no trustline")
    schedule_poll_pending_deposits: Schedule = setting(
        _schedule, "10s", "How often deposits are polled")
    schedule_check_trustlines: Schedule = setting(
        _schedule, "60s", "How often pending_trust is re-checked")
    schedule_execute_outgoing: Schedule = setting(
        _schedule, "30s", "Sweep for payouts not yet executed")
    schedule_poll_outgoing: Schedule = setting(
        _schedule, "30s", "How often pending_external is polled")
    schedule_reconcile: Schedule = setting(
        _schedule, "*/5 * * * *",
        "Re-read watched accounts' payments to catch anything a stream missed")
    schedule_maintenance: Schedule = setting(
        _schedule, "60s",
        "Re-send work whose message was lost; expire stale claims")
    internal_accounts: frozenset[str] | None = setting(
        _accounts, None,
        "The operator's own accounts (G..., comma-separated): payments from them, or from an "
        "asset's issuer, are internal (treasury movements), never matched or refunded")
    amount_policy: tuple[tuple[str, str], ...] = setting(
        _amount_policy, "accept",
        "A payment whose amount differs from amount_expected: accept (as Polaris) or hold for "
        "a person; per asset as USDC=hold,*=accept")
    rematch_window: int = setting(
        _int(0, 30 * 86400), "86400",
        "Seconds an unmatched or late payment may still be matched by a transaction that starts "
        "waiting for it (0 = never)")
    refund_rejected: bool = setting(
        _bool, "false",
        "Refund rejected payments (wrong asset or issuer, wrong memo type) automatically")
    claim_timeout: int = setting(
        _int(30, 1500), "300",
        "Seconds a claim (lease) on a transaction lasts before a sweep may retake it")
    stream_start_cursor: str = setting(
        _cursor, "now",
        "Where the streamer starts for an account it has no cursor for")
    stream_silence_timeout: float = setting(
        _seconds(5, 3600), "90",
        "Restart a payment stream that has been silent this long")
    callback_timeout: float = setting(
        _seconds(0.5, 60), "3", "Seconds a wallet callback may take")
    horizon_timeout: float = setting(
        _seconds(1, 120), "30",
        "Seconds a Horizon request may take (submissions included)")
    log_format: str = setting(
        _choice("text", "json"), "text", "Log lines as text or JSON")
    log_level: str = setting(
        _choice("DEBUG", "INFO", "WARNING", "ERROR"), "INFO", "Log level")
    metrics_port: int = setting(
        _int(0, 65535), "0",
        "Port for Prometheus metrics on ANCHOR_METRICS_HOST (0 = off)")
    metrics_host: str = setting(
        _text, "127.0.0.1",
        "Address metrics listen on (0.0.0.0 inside a container, never a public interface)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var in VARIABLES:
            raw = env.get(var.env)
            if raw is None or raw == "":
                raw = var.default
            if raw is None:
                values[var.field] = None
                continue
            try:
                values[var.field] = var.parse(raw.strip())
            except ValueError as exc:
                shown = "(hidden)" if var.parse in (_secret_key, _stellar_seed) else repr(raw)
                raise ConfigError(f"{var.env}: expected {exc}, got {shown}") from None
        if values["network_api"] == NetworkApi.RPC and values["rpc_url"] is None:
            raise ConfigError("ANCHOR_RPC_URL: is required when ANCHOR_NETWORK_API=rpc "
                              "(the Stellar RPC endpoint the jobs use)")
        return cls(**values)

    def require(self, *field_names: str) -> None:
        """Fail like a bad value would when a process needs a variable that has no default."""
        for name in field_names:
            if getattr(self, name) is None:
                env = "ANCHOR_" + name.upper()
                help_text = next(v.help for v in VARIABLES if v.field == name)
                raise ConfigError(f"{env}: is required here ({help_text})")

    def key(self) -> Secret:
        """``ANCHOR_SECRET_KEY``, failing like a missing variable when it is not set."""
        self.require("secret_key")
        assert self.secret_key is not None
        return self.secret_key

    def amount_policy_for(self, code: str) -> str:
        """``accept`` or ``hold`` for payments of the asset ``code`` (see ANCHOR_AMOUNT_POLICY)."""
        policies = dict(self.amount_policy)
        return policies.get(code, policies.get("*", AmountPolicy.ACCEPT))

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


VARIABLES: tuple[Variable, ...] = tuple(
    Variable(f.name, f.metadata["parse"], f.metadata["default"], f.metadata["help"])
    for f in fields(Settings))


_override: Settings | None = None


def configure(settings: Settings | None) -> None:
    """Use ``settings`` instead of the environment (the demo and tests do this)."""
    global _override
    _override = settings
    _from_env.cache_clear()


@lru_cache(maxsize=1)
def _from_env() -> Settings:
    return Settings.from_env()


def get_settings() -> Settings:
    return _override if _override is not None else _from_env()


def settings_or_exit(*required: str) -> Settings:
    """For entry points: a bad or missing variable prints one line and exits with status 2."""
    try:
        settings = get_settings()
        settings.require(*required)
    except ConfigError as exc:
        print(f"anchor-dramatiq: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return settings
