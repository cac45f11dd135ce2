"""``anchor-dramatiq``: the operator's command line."""

from __future__ import annotations

import logging
from typing import Any

import click

from anchor_dramatiq import __version__
from anchor_dramatiq.config import ConfigError, Settings, get_settings
from anchor_dramatiq.db import open_database
from anchor_dramatiq.logs import setup_logging


class AnchorGroup(click.Group):
    """Turns configuration errors into one line and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"anchor-dramatiq: configuration error: {exc}", err=True)
            ctx.exit(2)


def load(*required: str) -> Settings:
    """Validated settings with the database opened: what most commands start with."""
    settings = get_settings()
    settings.require(*required)
    setup_logging(settings)
    open_database(settings.database_url)
    return settings


@click.group(cls=AnchorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="anchor-dramatiq")
def main() -> None:
    """Run and operate a Stellar anchor's background jobs (Dramatiq + RabbitMQ + periodiq)."""
    logging.captureWarnings(True)


def _register() -> None:
    from anchor_dramatiq.cli import assets, basics, channels, demo, payments, payouts, status
    from simnet.cli import simnet_command

    main.add_command(basics.migrate)
    main.add_command(demo.demo)
    main.add_command(demo.run)
    main.add_command(basics.config_command)
    main.add_command(assets.asset)
    main.add_command(channels.channels)
    main.add_command(status.status)
    main.add_command(payments.payments)
    main.add_command(payouts.payouts)
    main.add_command(simnet_command, name="simnet")


_register()
