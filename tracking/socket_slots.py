"""How many public tracking sockets one client may hold open at once.

Each open socket holds one of ``TRACKING_SOCKETS_PER_CLIENT`` numbered slots of its client
address in the cache (Redis in full mode, so the bound holds across processes). A slot
is claimed with an atomic add and expires unless its socket refreshes it at each
heartbeat: a process that dies without closing its sockets frees their slots within
``slot_ttl()`` seconds instead of leaking them.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache


def slot_ttl() -> int:
    """Keep a slot three heartbeats long, and at least a minute."""
    return max(60, int(3 * settings.TRACKING_HEARTBEAT_SECONDS))


def slot_claim(*, client: str, owner: str) -> str | None:
    """Claim a free slot of ``client`` for ``owner`` (a channel name); None if all are held."""
    prefix = _prefix(client)
    for index in range(settings.TRACKING_SOCKETS_PER_CLIENT):
        key = f"{prefix}:{index}"
        if cache.add(key, owner, timeout=slot_ttl()):
            return key
    return None


def slot_refresh(*, key: str, owner: str) -> None:
    """Extend a held slot; take it again if it expired meanwhile (a stalled process)."""
    if not cache.touch(key, timeout=slot_ttl()):
        cache.add(key, owner, timeout=slot_ttl())


def slot_release(*, key: str, owner: str) -> None:
    """Free a slot, unless it expired and another socket holds it now."""
    if cache.get(key) == owner:
        cache.delete(key)


def _prefix(client: str) -> str:
    return "tracking-socket:" + hashlib.sha256(client.encode()).hexdigest()[:24]
