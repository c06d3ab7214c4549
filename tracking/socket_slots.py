"""How many public tracking sockets one client may hold open at once.

Each open socket holds one of ``TRACKING_SOCKETS_PER_CLIENT`` slots of its client address.
A client's slots are one entry in the cache (Redis in full mode, so the bound holds across
processes): its sockets' channel names, each with the time its slot expires. A socket
claims a slot, and refreshes it at each heartbeat, in one atomic step that drops the
expired slots and keeps or adds the socket's own if there is room; closing removes the
socket's own slot and never another's. On Redis each of these is one round trip, however
many slots the client holds (a sorted set and a Lua script), where probing numbered slots
cost the k-th socket k round trips. An unrefreshed slot expires, and the entry with the
last of them: a process that dies without closing its sockets frees their slots within
``slot_ttl()`` seconds instead of leaking them.

On the local-memory cache (embedded mode, one process) a lock makes the same steps atomic.
"""

import functools
import hashlib
import threading
import time

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.commands.core import Script

# KEYS[1]: the client's slots, a sorted set of owner -> expiry (milliseconds on Redis's
# clock, so processes whose clocks disagree still agree on what has expired); ARGV: owner,
# limit, time to live in milliseconds. Returns 1 if the owner holds a slot now, else 0.
_HOLD = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
    and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

_local_lock = threading.Lock()


def slot_ttl() -> int:
    """Keep a slot three heartbeats long, and at least a minute."""
    return max(60, int(3 * settings.TRACKING_HEARTBEAT_SECONDS))


def slot_claim(*, client: str, owner: str) -> str | None:
    """Claim a slot of ``client`` for ``owner`` (a channel name); None if all are held.

    Return the key to refresh and release it by.
    """
    key = "tracking-socket:" + hashlib.sha256(client.encode()).hexdigest()[:24]
    return key if _hold(key, owner) else None


def slot_refresh(*, key: str, owner: str) -> None:
    """Extend the slot of ``owner``; take one again if it expired meanwhile and one is free.

    A slot expires meanwhile when its process stalled longer than ``slot_ttl()``.
    """
    _hold(key, owner)


def slot_release(*, key: str, owner: str) -> None:
    """Free the slot of ``owner``, and no other socket's."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        cache._cache.get_client(write=True).zrem(cache.make_and_validate_key(key), owner)
        return
    with _local_lock:
        held = _unexpired(cache.get(key), time.time())
        if held.pop(owner, None) is None:
            return
        if held:
            cache.set(key, held, timeout=slot_ttl())
        else:
            cache.delete(key)


def _hold(key: str, owner: str) -> bool:
    """Keep or take a slot of ``key`` for ``owner`` unless all are held by others."""
    cache = caches["default"]
    limit, ttl = settings.TRACKING_SOCKETS_PER_CLIENT, slot_ttl()
    if isinstance(cache, RedisCache):
        # the cache's client: the process's one (orderflow.cache), one EVALSHA per call
        script = _hold_script(cache._cache.get_client(write=True))
        return bool(
            script(keys=[cache.make_and_validate_key(key)], args=[owner, limit, ttl * 1000])
        )
    with _local_lock:
        now = time.time()
        held = _unexpired(cache.get(key), now)
        if owner not in held and len(held) >= limit:
            return False
        held[owner] = now + ttl
        cache.set(key, held, timeout=ttl)
        return True


def _unexpired(held: dict[str, float] | None, now: float) -> dict[str, float]:
    return {owner: expiry for owner, expiry in (held or {}).items() if expiry > now}


@functools.cache
def _hold_script(client: redis.Redis) -> Script:
    """The hold script on ``client``, registered once (loaded again if Redis lost it)."""
    return client.register_script(_HOLD)
