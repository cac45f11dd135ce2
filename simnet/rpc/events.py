"""CAP-67 unified events for the classic operations simnet applies, built from history.

Nothing is recorded while a ledger applies: the events of a closed ledger are derived from its
transactions when an RPC client first asks (and cached by ``ledger_events``), so Horizon-only
runs pay nothing. What each operation emits follows CAP-67's "New Events for Operations":

- every transaction, failed or not, has a ``fee`` event (native contract, topics
  ``["fee", fee source]``, value i128 stroops charged) at the start of its ledger;
- successful operations that move value emit ``transfer`` (topics ``["transfer", from, to,
  asset]``), ``mint`` when the asset's issuer sends (``["mint", to, asset]``) or ``burn`` when
  the issuer receives (``["burn", from, asset]``), always from the asset's Stellar Asset
  Contract id. ``asset`` is the SEP-11 string, ``native`` or ``CODE:ISSUER``.
- a transfer or mint whose destination is muxed, or whose transaction has a memo (and a plain
  account destination), carries the map ``{amount: i128, to_muxed_id: u64 | string | bytes}``
  instead of the bare i128: the muxed id wins over the memo; a text memo is a string, an id
  memo a u64, hash and return memos bytes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache

from stellar_sdk import Address, Asset, StrKey, scval, xdr

from ..assets import NATIVE, asset_key, issuer_of, muxed
from ..history import OpRecord, TxRecord
from .protocol import Position

T = xdr.OperationType
CONTRACT = "contract"


@dataclass(frozen=True, slots=True)
class Raw:
    """One event before it has a place in the ledger: contract id and base64 ScVals."""

    contract_id: str
    topics: tuple[str, ...]
    value: str


@dataclass(frozen=True, slots=True)
class Event:
    """One event at its position; ``topics``/``value`` are base64 ScVal XDR."""

    position: Position
    contract_id: str
    topics: tuple[str, ...]
    value: str
    tx_hash: str
    kind: str = CONTRACT

    @property
    def ledger(self) -> int:
        return self.position[0]


def b64(val: xdr.SCVal) -> str:
    return base64.b64encode(val.to_xdr_bytes()).decode()


@lru_cache(maxsize=8)
def symbol(name: str) -> str:
    return b64(scval.to_symbol(name))


@lru_cache(maxsize=65_536)
def address(strkey: str) -> str:
    """A G (account), B (claimable balance) or C (contract) strkey as an ScVal address."""
    return b64(scval.to_address(Address(strkey)))


@lru_cache(maxsize=4096)
def asset_contract(key: str, passphrase: str) -> tuple[str, str]:
    """(Stellar Asset Contract id, SEP-11 asset ScVal) for an asset key, via stellar-sdk."""
    asset = Asset.native() if key == NATIVE else Asset(*key.split(":", 1))
    return asset.contract_id(passphrase), b64(scval.to_string(key))


def balance_strkey(balance_id_hex: str) -> str:
    """The B strkey of a claimable balance id (simnet keeps the ClaimableBalanceID XDR hex)."""
    raw = bytes.fromhex(balance_id_hex)
    return StrKey.encode_claimable_balance(bytes([raw[3]]) + raw[4:])


def _memo_id(memo: xdr.Memo) -> xdr.SCVal | None:
    M = xdr.MemoType
    if memo.type == M.MEMO_TEXT:
        return scval.to_string(memo.text)
    if memo.type == M.MEMO_ID:
        return scval.to_uint64(memo.id.uint64)
    if memo.type == M.MEMO_HASH:
        return scval.to_bytes(memo.hash.hash)
    if memo.type == M.MEMO_RETURN:
        return scval.to_bytes(memo.ret_hash.hash)
    return None


def amount_value(amount: int, muxed_id: xdr.SCVal | None) -> str:
    """The i128 amount, or the CAP-67 map when there is a ``to_muxed_id`` to carry."""
    if muxed_id is None:
        return b64(scval.to_int128(amount))
    return b64(xdr.SCVal(xdr.SCValType.SCV_MAP, map=xdr.SCMap([
        xdr.SCMapEntry(scval.to_symbol("amount"), scval.to_int128(amount)),
        xdr.SCMapEntry(scval.to_symbol("to_muxed_id"), muxed_id),
    ])))


class Encoder:
    """Builds the events of one transaction for a network passphrase."""

    def __init__(self, passphrase: str) -> None:
        self.passphrase = passphrase

    def fee(self, rec: TxRecord) -> Raw:
        contract, _ = asset_contract(NATIVE, self.passphrase)
        return Raw(contract, (symbol("fee"), address(rec.env.fee_source)),
                   b64(scval.to_int128(rec.fee_charged)))

    def movement(self, key: str, source: str, dest: str, amount: int,
                 muxed_id: xdr.SCVal | None) -> Raw:
        """transfer, or mint/burn when the issuer sends/receives (not both)."""
        contract, asset = asset_contract(key, self.passphrase)
        issuer = issuer_of(key)
        if issuer == source and issuer != dest:
            return Raw(contract, (symbol("mint"), address(dest), asset),
                       amount_value(amount, muxed_id))
        if issuer == dest and issuer != source:
            return Raw(contract, (symbol("burn"), address(source), asset),
                       amount_value(amount, None))
        return Raw(contract, (symbol("transfer"), address(source), address(dest), asset),
                   amount_value(amount, muxed_id))

    def operation(self, op: OpRecord) -> list[Raw]:
        """The events of one successful operation (none for those that move nothing)."""
        b, kind = op.op.body, op.op.body.type
        memo = op.tx.env.tx.memo
        if kind == T.CREATE_ACCOUNT:
            o = b.create_account_op
            dest = StrKey.encode_ed25519_public_key(o.destination.account_id.ed25519.uint256)
            return [self.movement(NATIVE, op.source, dest, o.starting_balance.int64,
                                  _memo_id(memo))]
        if kind == T.PAYMENT:
            o = b.payment_op
            return [self._to(asset_key(o.asset), op.source, o.destination, o.amount.int64,
                             memo)]
        if kind in (T.PATH_PAYMENT_STRICT_SEND, T.PATH_PAYMENT_STRICT_RECEIVE):
            o = (b.path_payment_strict_send_op if kind == T.PATH_PAYMENT_STRICT_SEND
                 else b.path_payment_strict_receive_op)
            return [self._to(asset_key(o.dest_asset), op.source, o.destination,
                             int(op.extra["amount"]), memo)]
        if kind == T.ACCOUNT_MERGE:
            return [self._to(NATIVE, op.source, b.destination, int(op.extra["amount"]), memo)]
        if kind == T.CREATE_CLAIMABLE_BALANCE:
            o = b.create_claimable_balance_op
            return [self.movement(asset_key(o.asset), op.source,
                                  balance_strkey(str(op.extra["balance_id"])), o.amount.int64,
                                  None)]
        if kind == T.CLAIM_CLAIMABLE_BALANCE:
            return [self.movement(str(op.extra["asset"]),
                                  balance_strkey(str(op.extra["balance_id"])), op.source,
                                  int(op.extra["amount"]), _memo_id(memo))]
        return []

    def _to(self, key: str, source: str, destination: xdr.MuxedAccount, amount: int,
            memo: xdr.Memo) -> Raw:
        """A movement to a possibly muxed destination: its id wins over the memo."""
        dest, _, dest_id = muxed(destination)
        muxed_id = scval.to_uint64(dest_id) if dest_id is not None else _memo_id(memo)
        return self.movement(key, source, dest, amount, muxed_id)

    def transaction(self, rec: TxRecord) -> list[list[Raw]]:
        """Per operation, its events; empty lists for a failed transaction (core clears
        the operation meta of failed transactions)."""
        if not rec.successful:
            return [[] for _ in rec.operations]
        return [self.operation(op) for op in rec.operations]


def tx_index(rec: TxRecord) -> int:
    """Application order of a transaction in its ledger (1-based), from its TOID."""
    return (rec.id >> 12) & 0xFFFFF


def ledger_events(encoder: Encoder, ledger: int, records: list[TxRecord]) -> list[Event]:
    """All events of a closed ledger in stellar-rpc's order: every fee first (transaction
    index 0), then each transaction's operation events (operation index from 0)."""
    out = [Event((ledger, 0, 0, i), *_fields(encoder.fee(rec)), rec.env.hash_hex)
           for i, rec in enumerate(records)]
    for rec in records:
        if not rec.successful:
            continue
        index = tx_index(rec)
        for op_index, raws in enumerate(encoder.transaction(rec)):
            for event_index, raw in enumerate(raws):
                out.append(Event((ledger, index, op_index, event_index), *_fields(raw),
                                 rec.env.hash_hex))
    return out


def _fields(raw: Raw) -> tuple[str, tuple[str, ...], str]:
    return raw.contract_id, raw.topics, raw.value


def contract_event(raw: Raw) -> xdr.ContractEvent:
    """The XDR ContractEvent of a raw event (for transaction meta)."""
    return xdr.ContractEvent(
        ext=xdr.ExtensionPoint(0),
        contract_id=xdr.ContractID(xdr.Hash(StrKey.decode_contract(raw.contract_id))),
        type=xdr.ContractEventType.CONTRACT,
        body=xdr.ContractEventBody(0, xdr.ContractEventV0(
            topics=[xdr.SCVal.from_xdr(t) for t in raw.topics],
            data=xdr.SCVal.from_xdr(raw.value))),
    )
