"""The demo's world on simnet: an issuer, a distribution account, channel accounts, wallets,
and the Polaris transactions an anchor's API server would have created for them."""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from stellar_sdk import Asset as StellarAsset
from stellar_sdk import Keypair, Server, TransactionBuilder
from stellar_sdk.operation import Operation

from anchor_dramatiq.config import Settings
from anchor_dramatiq.crypto import Secret, encrypt_seed
from anchor_dramatiq.models import Asset, Transaction
from anchor_dramatiq.network.shared import shared_network
from anchor_dramatiq.stellar import channels
from anchor_dramatiq.stellar.horizon import horizon_server
from anchor_dramatiq.vocabulary import NetworkApi, TransactionKind, TransactionStatus
from simnet import Simnet

ASSET_CODE = "USDC"
WALLET_BALANCE = Decimal("100000")
TREASURY = Decimal("10000000")
TREASURY_MEMO = "treasury top-up"  # from the issuer: recorded as internal, never refunded
OPS_PER_SETUP_TX = 100
SIGNATURES_PER_TX = 20  # a Stellar envelope carries at most 20 signatures


@dataclass
class World:
    """Everything the demo created, for the wallets, the progress view and the final check."""

    sim: Simnet
    issuer: Keypair
    distribution: Keypair
    impostor: Keypair  # issues a look-alike USDC, to show a rejected payment
    asset: Asset
    depositors: list[Keypair] = field(default_factory=list)
    withdrawers: list[Keypair] = field(default_factory=list)
    deposits: list[uuid.UUID] = field(default_factory=list)
    withdrawals: list[uuid.UUID] = field(default_factory=list)
    refund_rejected: bool = False  # --refund-rejected: the look-alike payment goes back
    network_api: str = NetworkApi.HORIZON  # --network-api: what the anchor's jobs speak

    @property
    def stellar_asset(self) -> StellarAsset:
        return StellarAsset(ASSET_CODE, self.issuer.public_key)

    @property
    def fake_asset(self) -> StellarAsset:
        return StellarAsset(ASSET_CODE, self.impostor.public_key)


def polaris_hash_memo(transaction_id: uuid.UUID) -> str:
    """Polaris's default withdrawal memo: the id's hex, zero-padded to 32 bytes, base64."""
    return base64.b64encode(bytes.fromhex(transaction_id.hex.rjust(64, "0"))).decode()


def submit(server: Server, sim: Simnet, source: Keypair, ops: list, signers: list[Keypair],
           memo: str | None = None) -> None:
    builder = TransactionBuilder(server.load_account(source.public_key), sim.passphrase, base_fee=100)
    for op in ops:
        builder.append_operation(op)
    if memo:
        builder.add_text_memo(memo)
    envelope = builder.set_timeout(60).build()
    for signer in signers:
        envelope.sign(signer)
    server.submit_transaction(envelope)


def open_accounts(server: Server, sim: Simnet, funder: Keypair, accounts: list[Keypair],
                  trust: list[StellarAsset], xlm: str = "100") -> None:
    """Create ``accounts`` and their trustlines, many per transaction (one source = one per ledger)."""
    from stellar_sdk import ChangeTrust, CreateAccount

    per_account = 1 + len(trust)
    step = OPS_PER_SETUP_TX // per_account
    if trust:  # each new account signs for its own trustlines, next to the funder
        step = min(step, SIGNATURES_PER_TX - 1)
    for start in range(0, len(accounts), step):
        group = accounts[start:start + step]
        ops: list[Operation] = []
        for keypair in group:
            ops.append(CreateAccount(keypair.public_key, xlm))
            ops += [ChangeTrust(asset, source=keypair.public_key) for asset in trust]
        submit(server, sim, funder, ops, [funder, *(group if trust else [])])


def mint(server: Server, sim: Simnet, issuer: Keypair, asset: StellarAsset,
         holders: list[Keypair], amount: Decimal, memo: str | None = None) -> None:
    from stellar_sdk import Payment

    for start in range(0, len(holders), OPS_PER_SETUP_TX):
        ops = [Payment(h.public_key, asset, str(amount)) for h in holders[start:start + OPS_PER_SETUP_TX]]
        submit(server, sim, issuer, ops, [issuer], memo)


def build_world(sim: Simnet, settings: Settings, deposits: int, withdrawals: int,
                channel_count: int, rng: random.Random) -> World:
    """Accounts on simnet, the asset row with its encrypted seed, channels, and transactions.

    The issuer's and the wallets' own transactions go to simnet's Horizon (they stand for
    the users); the anchor's channel accounts are funded through ``ANCHOR_NETWORK_API``."""
    server = horizon_server(settings)
    try:
        issuer, distribution, impostor = Keypair.random(), Keypair.random(), Keypair.random()
        open_accounts(server, sim, sim.root_keypair, [issuer, impostor], [], xlm="1000")
        world = World(sim=sim, issuer=issuer, distribution=distribution, impostor=impostor,
                      asset=None)  # type: ignore[arg-type]  # set below
        open_accounts(server, sim, sim.root_keypair, [distribution],
                      [world.stellar_asset, world.fake_asset], xlm="10000")
        mint(server, sim, issuer, world.stellar_asset, [distribution], TREASURY, memo=TREASURY_MEMO)

        world.asset = Asset.create(
            code=ASSET_CODE, issuer=issuer.public_key, significant_decimals=2,
            distribution_seed=encrypt_seed(Secret(distribution.secret), settings.key()),
            deposit_fee_fixed=Decimal("1"), withdrawal_fee_fixed=Decimal("1"),
            sep24_enabled=True, sep6_enabled=True)
        if channel_count:
            # The anchor's own step, through the configured network API.
            channels.create(shared_network(settings), distribution, channel_count, settings, "5")

        world.depositors = [Keypair.random() for _ in range(max(1, deposits))]
        world.withdrawers = [Keypair.random() for _ in range(withdrawals + 1)]
        open_accounts(server, sim, sim.root_keypair, world.depositors, [world.stellar_asset])
        open_accounts(server, sim, sim.root_keypair, world.withdrawers,
                      [world.stellar_asset, world.fake_asset])
        mint(server, sim, issuer, world.stellar_asset, world.withdrawers, WALLET_BALANCE)
        mint(server, sim, impostor, world.fake_asset, world.withdrawers[-1:], WALLET_BALANCE)
    finally:
        server.close()

    for index in range(deposits):
        user = world.depositors[index % len(world.depositors)]
        row = Transaction.create(
            stellar_account=user.public_key, to_address=user.public_key, asset=world.asset,
            kind=TransactionKind.DEPOSIT, protocol="sep24",
            status=TransactionStatus.PENDING_USER_TRANSFER_START,
            amount_expected=Decimal(rng.randrange(1000, 50000)) / 100)
        world.deposits.append(row.id)
    for index in range(withdrawals):
        user = world.withdrawers[index]
        tx_id = uuid.uuid4()
        Transaction.create(
            id=tx_id, stellar_account=user.public_key, from_address=user.public_key,
            asset=world.asset, kind=TransactionKind.WITHDRAWAL, protocol="sep24",
            status=TransactionStatus.PENDING_USER_TRANSFER_START, memo_type="hash",
            memo=polaris_hash_memo(tx_id),
            receiving_anchor_account=distribution.public_key,
            amount_expected=Decimal(rng.randrange(1000, 50000)) / 100)
        world.withdrawals.append(tx_id)
    return world
