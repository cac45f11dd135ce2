"""The operator's CLI on both backends: assets with encrypted seeds, status."""

import json
from decimal import Decimal

from click.testing import CliRunner
from stellar_sdk import Keypair
from support.secret import TEST_SECRET_KEY

from anchor_dramatiq.cli import main
from anchor_dramatiq.crypto import Secret, decrypt_seed
from anchor_dramatiq.models import Asset, Transaction


def test_asset_add_reads_seed_from_stdin_and_stores_it_encrypted(db):
    issuer, distribution = Keypair.random(), Keypair.random()
    runner = CliRunner()
    result = runner.invoke(main, ["asset", "add", "--code", "USDC", "--issuer", issuer.public_key,
                                  "--seed-file", "-", "--deposit-fee-fixed", "1.5", "--sep", "6",
                                  "--sep", "24"], input=distribution.secret + "\n")
    assert result.exit_code == 0, result.output
    assert distribution.public_key in result.output
    assert distribution.secret not in result.output
    asset = Asset.get(Asset.code == "USDC")
    assert asset.distribution_seed != distribution.secret
    assert decrypt_seed(asset.distribution_seed, Secret(TEST_SECRET_KEY)).reveal() == distribution.secret
    assert asset.deposit_fee_fixed == Decimal("1.5") and asset.sep6_enabled and asset.sep24_enabled
    assert not asset.sep31_enabled

    listed = runner.invoke(main, ["asset", "list"])
    assert listed.exit_code == 0
    assert distribution.public_key in listed.output and distribution.secret not in listed.output

    again = runner.invoke(main, ["asset", "add", "--code", "USDC", "--issuer", issuer.public_key,
                                 "--seed-file", "-"], input=distribution.secret)
    assert again.exit_code != 0 and "exists" in again.output


def test_asset_add_rejects_bad_input(db):
    runner = CliRunner()
    issuer = Keypair.random().public_key
    bad_seed = runner.invoke(main, ["asset", "add", "--code", "USD", "--issuer", issuer,
                                    "--seed-file", "-"], input="SNOTASEED\n")
    assert bad_seed.exit_code == 2 and "not a Stellar secret seed" in bad_seed.output
    bad_code = runner.invoke(main, ["asset", "add", "--code", "TOO-LONG-CODE!", "--issuer", issuer,
                                    "--seed-file", "-"], input=Keypair.random().secret)
    assert bad_code.exit_code == 2
    bad_issuer = runner.invoke(main, ["asset", "add", "--code", "USD", "--issuer", "GNOPE",
                                      "--seed-file", "-"], input=Keypair.random().secret)
    assert bad_issuer.exit_code == 2
    assert Asset.select().count() == 0


def test_status_counts_by_kind_and_status(db):
    asset = Asset.create(code="USD", issuer=Keypair.random().public_key)
    for kind, state, n in [("deposit", "pending_user_transfer_start", 3), ("deposit", "completed", 2),
                           ("withdrawal", "pending_anchor", 1)]:
        for _ in range(n):
            Transaction.create(stellar_account="GA", asset=asset, kind=kind, status=state)
    result = CliRunner().invoke(main, ["status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["transactions"]["deposit"] == {"pending_user_transfer_start": 3, "completed": 2}
    assert report["transactions"]["withdrawal"] == {"pending_anchor": 1}


def test_every_command_has_help():
    runner = CliRunner()

    def walk(group, path):
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, path
        for name, command in getattr(group, "commands", {}).items():
            walk(command, [*path, name])

    walk(main, [])
