"""``migrate`` and ``config``."""

from __future__ import annotations

import click

from anchor_dramatiq.config import VARIABLES, get_settings
from anchor_dramatiq.migrate import current_version
from anchor_dramatiq.migrate import migrate as run_migrations


@click.command()
def migrate() -> None:
    """Create missing tables and indexes (idempotent; safe on a Polaris database)."""
    from anchor_dramatiq.cli import load

    load()
    applied = run_migrations()
    if applied:
        click.echo(f"applied: {', '.join(applied)}; schema version {current_version()}")
    else:
        click.echo(f"up to date; schema version {current_version()}")


@click.command("config")
@click.option("--markdown", is_flag=True, help="Print the documentation table instead")
def config_command(markdown: bool) -> None:
    """Show every ANCHOR_* variable and the value in effect (secrets hidden)."""
    if markdown:
        click.echo("| variable | default | meaning |\n|---|---|---|")
        for var in VARIABLES:
            default = f"`{var.default}`" if var.default is not None else "(unset)"
            click.echo(f"| `{var.env}` | {default} | {var.help} |")
        return
    settings = get_settings()
    for var in VARIABLES:
        value = getattr(settings, var.field)
        shown = "(unset)" if value is None else str(value)
        click.echo(f"{var.env}={shown}")
