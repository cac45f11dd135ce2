"""simnet: a Horizon-compatible simulated Stellar network for offline development and tests.

``from simnet import Simnet`` starts one in a background thread; see
``docs/simnet.md`` for the API, the endpoints, the faults and what is not simulated.
"""

from .network import STANDALONE_PASSPHRASE
from .runner import Simnet, start_server

__all__ = ["STANDALONE_PASSPHRASE", "Simnet", "start_server"]
