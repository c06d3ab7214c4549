"""Socket slots: the bound per client, expiry, one Redis command a call, the embedded path."""

import uuid

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from tracking import socket_slots


@pytest.fixture
def address() -> str:
    """A client address of this test alone (slots outlive a test by their time to live)."""
    return f"client-{uuid.uuid4().hex}"


@pytest.fixture
def store() -> redis.Redis:
    """Redis as the cache reaches it, to read the slots and age them."""
    cache = caches["default"]
    assert isinstance(cache, RedisCache), "the tests' cache is Redis (REDIS_URL)"
    return redis.Redis(connection_pool=cache._cache.get_client().connection_pool)


def held(store: redis.Redis, key: str) -> dict[str, float]:
    """The owners holding a slot of ``key``, with their expiry in Redis milliseconds."""
    stored = store.zrange(caches["default"].make_key(key), 0, -1, withscores=True)
    return {owner.decode(): expiry for owner, expiry in stored}


def redis_now_ms(store: redis.Redis) -> int:
    seconds, microseconds = store.time()
    return seconds * 1000 + microseconds // 1000


def expire(store: redis.Redis, key: str, owner: str) -> None:
    """Age the slot of ``owner`` past its expiry, as a socket that stopped refreshing it."""
    store.zadd(caches["default"].make_key(key), {owner: redis_now_ms(store) - 1}, xx=True)


# --- on Redis (full mode) --------------------------------------------------------------------
def test_a_client_holds_as_many_slots_as_its_limit_and_no_more(settings, store, address):
    settings.TRACKING_SOCKETS_PER_CLIENT = 3

    keys = [socket_slots.slot_claim(client=address, owner=f"channel-{n}") for n in range(3)]

    assert keys[0] is not None
    assert keys == [keys[0]] * 3
    assert socket_slots.slot_claim(client=address, owner="channel-3") is None
    assert set(held(store, keys[0])) == {"channel-0", "channel-1", "channel-2"}
    assert 0 < store.pttl(caches["default"].make_key(keys[0])) <= socket_slots.slot_ttl() * 1000
    neighbour = socket_slots.slot_claim(client=f"{address}-neighbour", owner="channel-3")
    assert neighbour not in (None, keys[0])


def test_a_release_frees_its_owners_slot_and_no_other(settings, store, address):
    settings.TRACKING_SOCKETS_PER_CLIENT = 2
    key = socket_slots.slot_claim(client=address, owner="channel-a")
    socket_slots.slot_claim(client=address, owner="channel-b")

    socket_slots.slot_release(key=key, owner="channel-c")  # holds none: nothing happens
    assert set(held(store, key)) == {"channel-a", "channel-b"}
    assert socket_slots.slot_claim(client=address, owner="channel-c") is None

    socket_slots.slot_release(key=key, owner="channel-a")
    assert set(held(store, key)) == {"channel-b"}
    assert socket_slots.slot_claim(client=address, owner="channel-c") == key
    assert set(held(store, key)) == {"channel-b", "channel-c"}


def test_the_last_release_removes_the_clients_key(store, address):
    key = socket_slots.slot_claim(client=address, owner="channel-a")

    socket_slots.slot_release(key=key, owner="channel-a")

    assert store.exists(caches["default"].make_key(key)) == 0


def test_an_expired_slot_is_free_again(settings, store, address):
    settings.TRACKING_SOCKETS_PER_CLIENT = 1
    key = socket_slots.slot_claim(client=address, owner="channel-a")
    assert socket_slots.slot_claim(client=address, owner="channel-b") is None

    expire(store, key, "channel-a")  # its process died without closing the socket

    assert socket_slots.slot_claim(client=address, owner="channel-b") == key
    assert set(held(store, key)) == {"channel-b"}


def test_a_refresh_keeps_the_slot_alive(settings, store, address):
    settings.TRACKING_SOCKETS_PER_CLIENT = 1
    key = socket_slots.slot_claim(client=address, owner="channel-a")
    full_key = caches["default"].make_key(key)
    store.zadd(full_key, {"channel-a": redis_now_ms(store) + 1000}, xx=True)  # nearly out
    store.pexpire(full_key, 1000)
    before = redis_now_ms(store)

    socket_slots.slot_refresh(key=key, owner="channel-a")

    ttl_ms = socket_slots.slot_ttl() * 1000
    assert held(store, key)["channel-a"] >= before + ttl_ms
    assert store.pttl(full_key) > ttl_ms - 1000
    assert socket_slots.slot_claim(client=address, owner="channel-b") is None


def test_a_refresh_takes_an_expired_slot_again_when_one_is_free(settings, store, address):
    settings.TRACKING_SOCKETS_PER_CLIENT = 1
    key = socket_slots.slot_claim(client=address, owner="channel-a")
    expire(store, key, "channel-a")  # its process stalled past the time to live
    before = redis_now_ms(store)

    socket_slots.slot_refresh(key=key, owner="channel-a")

    assert held(store, key)["channel-a"] >= before + socket_slots.slot_ttl() * 1000
    assert socket_slots.slot_claim(client=address, owner="channel-b") is None


def test_a_refresh_after_expiry_takes_no_slot_another_socket_holds(settings, store, address):
    settings.TRACKING_SOCKETS_PER_CLIENT = 1
    key = socket_slots.slot_claim(client=address, owner="channel-a")
    expire(store, key, "channel-a")
    assert socket_slots.slot_claim(client=address, owner="channel-b") == key

    socket_slots.slot_refresh(key=key, owner="channel-a")

    assert set(held(store, key)) == {"channel-b"}


def test_each_call_is_one_redis_command_however_many_slots_are_held(settings, monkeypatch, address):
    settings.TRACKING_SOCKETS_PER_CLIENT = 250
    cache = caches["default"]
    client = cache._cache.get_client(write=True)
    warm = socket_slots.slot_claim(client=f"{address}-warm", owner="w")  # loads the script
    socket_slots.slot_release(key=warm, owner="w")
    sent: list[str] = []
    execute_command = type(client).execute_command

    def counting(self, *args, **options):
        if self is client:
            sent.append(args[0])
        return execute_command(self, *args, **options)

    # on the class: an instance attribute would outlive the undo and hide the class's
    # method from later tests that patch it there
    monkeypatch.setattr(type(client), "execute_command", counting)

    per_claim = []
    for n in range(200):
        sent.clear()
        key = socket_slots.slot_claim(client=address, owner=f"channel-{n}")
        assert key is not None
        per_claim.append(list(sent))
    sent.clear()
    socket_slots.slot_refresh(key=key, owner="channel-0")
    refresh = list(sent)
    sent.clear()
    socket_slots.slot_release(key=key, owner="channel-0")
    release = list(sent)

    assert per_claim == [["EVALSHA"]] * 200
    assert refresh == ["EVALSHA"]
    assert release == ["ZREM"]


# --- on the local-memory cache (embedded mode) -----------------------------------------------
@pytest.fixture
def local_memory(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return caches["default"]


def test_on_the_local_memory_cache_a_client_holds_at_most_its_limit(
    settings, local_memory, address
):
    settings.TRACKING_SOCKETS_PER_CLIENT = 2
    key = socket_slots.slot_claim(client=address, owner="channel-a")
    assert socket_slots.slot_claim(client=address, owner="channel-b") == key
    assert socket_slots.slot_claim(client=address, owner="channel-c") is None

    socket_slots.slot_release(key=key, owner="channel-c")  # holds none: nothing happens
    assert socket_slots.slot_claim(client=address, owner="channel-c") is None
    socket_slots.slot_release(key=key, owner="channel-a")

    assert socket_slots.slot_claim(client=address, owner="channel-c") == key
    assert set(local_memory.get(key)) == {"channel-b", "channel-c"}


def test_on_the_local_memory_cache_an_expired_slot_is_free_again(settings, local_memory, address):
    settings.TRACKING_SOCKETS_PER_CLIENT = 1
    key = socket_slots.slot_claim(client=address, owner="channel-a")
    local_memory.set(key, {"channel-a": 0.0})  # expired long ago: its process died

    assert socket_slots.slot_claim(client=address, owner="channel-b") == key
    socket_slots.slot_refresh(key=key, owner="channel-a")  # expired, and no slot is free

    assert set(local_memory.get(key)) == {"channel-b"}
