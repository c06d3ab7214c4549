"""The per-shop request rate limit: one atomic counter per shop and window.

A fixed window per shop: the first request of a window creates the shop's counter with the
window's length as its time to live, every request increments it, and a request that
brings it past the limit is refused until the counter expires. On Redis the increment, the
expiry and the remaining time are one Lua script (one round trip, atomic), so parallel
requests can never all read the same count and all pass — as DRF's read-modify-write
``SimpleRateThrottle`` let them. On the local-memory cache (embedded mode, one process) a
lock makes the same read-modify-write atomic.

**Leases.** A process does not ask Redis for every request: it takes a *lease* of up to
``LEASE_MAX`` of the shop's requests at once (the script adds them to the counter in one
step) and answers that many from memory until the window ends. The counter stays exact
about what was granted, so more than the limit can never pass in a window, from however
many processes; what a lease costs is that requests taken but not used by one process are
refused to the others. A lease is at most 1/``LEASE_SHARE`` of what the shop has left of its
window, so near the limit it is one request (exact, as with no lease at all), and a shop
far from its limit makes one Redis call per ``LEASE_MAX`` requests instead of one each: the
round trip was ≈ 9 % of the machine's CPU per order on the intake (docs/performance.md).
"""

import functools
import logging
import math
import re
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.throttling import BaseThrottle

from .. import metrics

logger = logging.getLogger(__name__)

#: seconds per period word of ``API_RATE_LIMIT`` (DRF's format: only the first letter counts)
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

#: most requests of one shop a process takes from the counter at once, and the share of
#: what the shop has left in its window that one lease may take at most
LEASE_MAX = 32
LEASE_SHARE = 64
#: shops whose leases a process remembers (more: it forgets them all, and asks again)
LEASES_KEPT = 10_000

# KEYS[1]: the shop's counter; ARGV[1]: the window in milliseconds; ARGV[2]: the requests
# taken (the lease). Returns the count including them and the milliseconds left in the
# window. A counter found without an expiry (written by something else) gets one, so no
# shop is ever refused for good.
_INCREMENT_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""

_local_lock = threading.Lock()


def parse_rate(rate: str) -> tuple[int, int]:
    """Return (requests, seconds) for a rate such as ``1000/minute``."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[:1].lower()]


@functools.cache
def _redis_script(location: str, socket_timeout: float | None, connect_timeout: float | None):
    """The increment script on one client per Redis server and process (a pooled client).

    Keyed by the cache's location and timeouts, so a settings change (a test pointing the
    cache elsewhere) gets its own client rather than another server's.
    """
    client = redis.Redis.from_url(
        location, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout
    )
    return client.register_script(_INCREMENT_SCRIPT)


@dataclass
class _Lease:
    left: int  # requests granted to this process and not answered yet
    ends_at: float  # the window's end, on this process's monotonic clock
    count: int  # the shop's counter after this process's last lease


_leases: dict[str, _Lease] = {}
#: shops a thread of this process is taking a lease for right now
_leasing: set[str] = set()
_leases_lock = threading.Lock()


def forget_leases() -> None:
    """Drop this process's leases (tests, to stand for another process)."""
    with _leases_lock:
        _leases.clear()
        _leasing.clear()


def _allowed_on_redis(key: str, limit: int, window: int) -> tuple[bool, float | None]:
    """Answer from this process's lease if it has a request left, else take a new lease."""
    now = time.monotonic()
    with _leases_lock:
        lease = _leases.get(key)
        if lease is not None and lease.ends_at <= now:
            lease = None
        if lease is not None and lease.left > 0:
            lease.left -= 1
            return True, None
        known = lease.count if lease is not None else 0
        # one lease at a time per shop and process: while a thread takes one, the others
        # take their own request only (a burst of threads would each take a lease, and
        # together hold more than the shop's window)
        leasing = key not in _leasing
        if leasing:
            _leasing.add(key)
    size = max(1, min(LEASE_MAX, (limit - known) // LEASE_SHARE)) if leasing else 1
    try:
        count, remaining = _count_on_redis(key, window, size)
    finally:
        if leasing:
            with _leases_lock:
                _leasing.discard(key)
    # of the requests just counted, those within the limit are this process's to answer
    granted = max(0, min(size, limit - (count - size)))
    if granted == 0:
        return False, remaining
    ends_at = time.monotonic() + remaining
    with _leases_lock:
        lease = _leases.get(key)
        if lease is not None and lease.ends_at > now and abs(lease.ends_at - ends_at) < 1:
            # the same window, leased twice at once by two threads: both are this process's
            lease.left += granted - 1
            lease.count = max(lease.count, count)
        else:
            if len(_leases) >= LEASES_KEPT:
                _leases.clear()
            _leases[key] = _Lease(left=granted - 1, ends_at=ends_at, count=count)
    return True, None


def _count_on_redis(key: str, window: int, taken: int) -> tuple[int, float]:
    config = settings.CACHES["default"]
    options = config.get("OPTIONS", {})
    location = config["LOCATION"]
    # several servers: Django's cache writes to the first
    first = re.split("[;,]", location)[0] if isinstance(location, str) else location[0]
    script = _redis_script(
        first,
        options.get("socket_timeout"),
        options.get("socket_connect_timeout"),
    )
    count, ttl_ms = script(keys=[key], args=[window * 1000, taken])  # EVALSHA (EVAL at first)
    return int(count), int(ttl_ms) / 1000


def _count_in_process(cache, key: str, window: int) -> tuple[int, float]:
    # The local-memory cache lives in this process only, so a process-wide lock is enough
    # to make the read, the increment and the write one step.
    with _local_lock:
        now = time.monotonic()
        count, ends_at = cache.get(key) or (0, 0.0)
        if ends_at <= now:
            count, ends_at = 0, now + window
        count += 1
        cache.set(key, (count, ends_at), timeout=math.ceil(ends_at - now))
    return count, ends_at - now


#: set on the Django request by a path that counted it already (the lean intake, which
#: hands some requests on to the DRF view): True when allowed, or the seconds to wait
COUNTED_ATTRIBUTE = "_shop_rate_counted"


def count_shop_request(shop_id: int) -> tuple[bool, float | None]:
    """Count one request of the shop; (allowed, seconds left in the window when refused).

    Fails open as :class:`ShopRateThrottle` explains.
    """
    rate = settings.API_RATE_LIMIT
    if not rate:
        return True, None
    limit, window = parse_rate(rate)
    cache = caches["default"]
    try:
        if isinstance(cache, RedisCache):
            return _allowed_on_redis(cache.make_key(f"throttle:shop:{shop_id}"), limit, window)
        count, remaining = _count_in_process(cache, f"throttle:shop:{shop_id}", window)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        metrics.record_rate_limit_unchecked()
        logger.warning(
            "Rate limit not checked, the cache is unreachable (%s: %s)",
            type(exc).__name__,
            exc,
        )
        return True, None
    if count <= limit:
        return True, None
    return False, remaining


class ShopRateThrottle(BaseThrottle):
    """Per-shop request rate from ``API_RATE_LIMIT`` (e.g. ``1000/minute``; empty disables).

    When Redis cannot be reached the throttle fails open: the request is allowed, a warning
    logged and ``orderflow_rate_limit_unchecked_total`` counted. The limit guards shops'
    fair share, not correctness (the database's pool still bounds the load), so refusing
    every shop while Redis restarts would turn a cache blip into an API outage.
    """

    def __init__(self):
        self.retry_after: float | None = None

    def allow_request(self, request, view) -> bool:
        shop = getattr(request.user, "shop", None)
        if shop is None:
            return True
        counted = getattr(request._request, COUNTED_ATTRIBUTE, None)
        if counted is True:
            return True
        if counted is not None:  # counted and refused: the seconds left
            self.retry_after = counted
            return False
        allowed, self.retry_after = count_shop_request(shop.pk)
        return allowed

    def wait(self) -> float | None:
        """Seconds until the shop's window ends (DRF sends them as ``Retry-After``)."""
        return None if self.retry_after is None else max(math.ceil(self.retry_after), 1)
