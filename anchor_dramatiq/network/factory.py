"""``network_for(settings)``: the configured backend (``ANCHOR_NETWORK_API``)."""

from __future__ import annotations

from anchor_dramatiq.config import Settings
from anchor_dramatiq.network.horizon import HorizonNetwork
from anchor_dramatiq.network.interface import Network
from anchor_dramatiq.network.rpc import RpcNetwork
from anchor_dramatiq.vocabulary import NetworkApi


def network_for(settings: Settings) -> Network:
    """A new client for the configured API; the caller closes it."""
    if settings.network_api == NetworkApi.RPC:
        return rpc_for(settings)
    return HorizonNetwork(settings.horizon_url, settings.horizon_timeout)


def rpc_for(settings: Settings) -> RpcNetwork:
    """Stellar RPC at ``ANCHOR_RPC_URL`` (required here); the caller closes it."""
    settings.require("rpc_url")
    assert settings.rpc_url is not None
    return RpcNetwork(settings.rpc_url, settings.network_passphrase, settings.horizon_timeout)


def history_for(settings: Settings) -> HorizonNetwork:
    """Horizon at ``ANCHOR_HORIZON_URL``: where a gap in RPC's retention is filled from."""
    return HorizonNetwork(settings.horizon_url, settings.horizon_timeout)
