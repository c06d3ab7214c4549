"""The live status of each order in Redis: what a page or socket shows first.

A live status is ``status``, ``sequence``, ``updated_at`` and ``next_step``. Writes are a
compare-and-set on ``sequence`` (a Lua script, atomic in Redis), so it never
goes backwards: a stale or replayed event, or a reader rebuilding from PostgreSQL while
an event lands, cannot overwrite a newer status. Without Redis (embedded mode) the
process's own cache stands in, under a lock.
"""

import threading
from dataclasses import asdict, dataclass
from functools import cache
from uuid import UUID

import redis
from django.conf import settings
from django.core.cache import cache as local_cache

from orderflow.cache import process_client

KEY = "orderflow:tracking:status:{order_id}"

# KEYS[1] the live status; ARGV: sequence, status, updated_at, next_step, ttl
_SET_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'sequence')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'sequence', ARGV[1], 'status', ARGV[2],
           'updated_at', ARGV[3], 'next_step', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


@dataclass(frozen=True)
class LiveStatus:
    status: str
    sequence: int
    updated_at: str  # ISO 8601
    next_step: str


def live_status_set(order_id: UUID, live: LiveStatus) -> bool:
    """Store ``live`` unless the stored one is as new or newer; True if stored."""
    key = KEY.format(order_id=order_id)
    ttl = settings.TRACKING_STATUS_TTL
    if settings.REDIS_URL:
        script = _set_if_newer()
        return bool(
            script(
                keys=[key], args=[live.sequence, live.status, live.updated_at, live.next_step, ttl]
            )
        )
    with _local_lock:
        current = local_cache.get(key)
        if current is not None and current["sequence"] >= live.sequence:
            return False
        local_cache.set(key, asdict(live), ttl)
        return True


def live_status_set_many(statuses: list[tuple[UUID, LiveStatus]]) -> list[bool]:
    """Store each live status unless a newer one is stored: one Redis round trip for all."""
    if not statuses:
        return []
    if not settings.REDIS_URL:
        return [live_status_set(order_id, live) for order_id, live in statuses]
    ttl = settings.TRACKING_STATUS_TTL
    script = _set_if_newer()
    try:
        return _set_many(script.sha, statuses, ttl)
    except redis.exceptions.NoScriptError:  # Redis restarted or was flushed: load, then again
        return _set_many(_client().script_load(_SET_IF_NEWER), statuses, ttl)


def _set_many(sha: str, statuses: list[tuple[UUID, LiveStatus]], ttl: int) -> list[bool]:
    # EVALSHA straight into the pipeline: one round trip (redis-py's Script in a pipeline
    # asks SCRIPT EXISTS first, every time)
    with _client().pipeline(transaction=False) as pipe:
        for order_id, live in statuses:
            key = KEY.format(order_id=order_id)
            pipe.evalsha(
                sha, 1, key, live.sequence, live.status, live.updated_at, live.next_step, ttl
            )
        return [bool(stored) for stored in pipe.execute()]


def live_status_get(order_id: UUID) -> LiveStatus | None:
    key = KEY.format(order_id=order_id)
    if settings.REDIS_URL:
        stored = _client().hgetall(key)
        if not stored:
            return None
        return LiveStatus(
            status=stored[b"status"].decode(),
            sequence=int(stored[b"sequence"]),
            updated_at=stored[b"updated_at"].decode(),
            next_step=stored[b"next_step"].decode(),
        )
    stored = local_cache.get(key)
    return LiveStatus(**stored) if stored else None


def live_status_forget(order_id: UUID) -> None:
    """Drop the live status (tests, support): the next read rebuilds it from PostgreSQL."""
    key = KEY.format(order_id=order_id)
    if settings.REDIS_URL:
        _client().delete(key)
    else:
        local_cache.delete(key)


_local_lock = threading.Lock()


def _client() -> redis.Redis:
    """This process's one client (and connection pool) for the live statuses.

    With the cache's socket timeouts: a paused Redis must fail a projector batch (which
    retries), never hold its transaction open for ever.
    """
    return process_client(
        settings.REDIS_URL,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
    )


@cache
def _set_if_newer():
    """The compare-and-set script, registered once (EVALSHA, loaded again if Redis lost it)."""
    return _client().register_script(_SET_IF_NEWER)
