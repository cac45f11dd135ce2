"""ANCHOR_NETWORK_API and ANCHOR_RPC_URL: validated at start, and the factory's choice."""

import pytest

from anchor_dramatiq.config import ConfigError, Settings
from anchor_dramatiq.network.factory import network_for
from anchor_dramatiq.network.horizon import HorizonNetwork
from anchor_dramatiq.network.rpc import RpcNetwork
from anchor_dramatiq.vocabulary import NetworkApi


def test_horizon_is_the_default():
    settings = Settings.from_env({})
    assert settings.network_api == NetworkApi.HORIZON and settings.rpc_url is None
    net = network_for(settings)
    assert isinstance(net, HorizonNetwork) and net.api == NetworkApi.HORIZON
    net.close()


def test_rpc_needs_its_url():
    with pytest.raises(ConfigError, match="ANCHOR_RPC_URL: is required when ANCHOR_NETWORK_API=rpc"):
        Settings.from_env({"ANCHOR_NETWORK_API": "rpc"})


@pytest.mark.parametrize("env,value,expected", [
    ("ANCHOR_NETWORK_API", "soroban", "one of horizon, rpc"),
    ("ANCHOR_RPC_URL", "localhost:8000", "http:// or https://"),
])
def test_bad_values_name_the_variable(env, value, expected):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({env: value})
    assert str(err.value).startswith(env + ": expected") and expected in str(err.value)


def test_rpc_is_chosen_by_configuration():
    settings = Settings.from_env({"ANCHOR_NETWORK_API": "rpc",
                                  "ANCHOR_RPC_URL": "http://127.0.0.1:8000/rpc"})
    net = network_for(settings)
    assert isinstance(net, RpcNetwork) and net.server.server_url == "http://127.0.0.1:8000/rpc"
    net.close()
