"""Negative control: the idempotency store is skipped, so a retried POST places again.

Test-only, and only through this module: never an environment variable.

A retry needs a request that outlives the client's patience yet still completes. Since
Redis calls time out after ``REDIS_SOCKET_TIMEOUT`` (1 s), a paused Redis no longer holds
a request that long, so this control gives the cache a read timeout above the load
client's 3 s: requests frozen behind the paused Redis are retried while they go on to
place their orders, as they all were before the timeout existed.
"""

from .settings import *  # noqa: F403
from .settings import CACHES

FAULTS_UNSAFE_NO_IDEMPOTENCY = True
# The lean intake (orders/api/lean.py) writes the key row in its one statement and does not
# read the switch above: the control places its orders through the API's DRF view, whose
# idempotency store (orderflow/idempotency.py) the switch turns off.
ORDER_INTAKE_LEAN = False

CACHES = {
    **CACHES,
    "default": {
        **CACHES["default"],
        "OPTIONS": {**CACHES["default"].get("OPTIONS", {}), "socket_timeout": 10.0},
    },
}
