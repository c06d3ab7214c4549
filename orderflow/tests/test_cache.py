"""The Redis cache on one pooled client per process: reused, thread-shared, fork-safe, recovering.

Each test runs its own redis-server on a free port (the private_redis fixture), so killing
and restarting it touches nobody else's Redis.
"""

import os
import threading

import pytest
import redis
import redis.connection
import redis.utils

from orderflow.cache import RedisCache


def _cache(url: str) -> RedisCache:
    return RedisCache(
        url,
        {
            "KEY_PREFIX": "cache-test",
            "OPTIONS": {"socket_timeout": 2.0, "socket_connect_timeout": 2.0},
        },
    )


def test_hiredis_parses_the_replies():
    assert redis.utils.HIREDIS_AVAILABLE
    assert redis.connection.DefaultParser.__name__ == "_HiredisParser"


def test_calls_build_no_client(private_redis, monkeypatch):
    # given a cache that has made one call
    cache = _cache(private_redis.url)
    cache.set("warm", 1, 30)
    built = []
    original = redis.Redis.__init__

    def counting_init(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting_init)

    # when it serves many calls of every kind
    for n in range(20):
        cache.set(f"k{n}", n, 30)
        assert cache.get(f"k{n}") == n
        cache.add(f"a{n}", n, 30)
        cache.get_many([f"k{n}", f"a{n}"])
        cache.delete(f"a{n}")

    # then no redis.Redis was built for them
    assert built == []


def test_threads_and_backend_instances_share_one_client(private_redis):
    first, second = _cache(private_redis.url), _cache(private_redis.url)
    clients = [first._cache.get_client(), second._cache.get_client(write=True)]

    def in_thread():
        own = _cache(private_redis.url)
        own.set("from-thread", "yes", 30)
        clients.append(own._cache.get_client())

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(30)

    assert not thread.is_alive()
    assert all(client is clients[0] for client in clients)
    assert first.get("from-thread") == "yes"


def test_a_call_after_redis_restarts_succeeds_on_the_same_client(private_redis):
    # given a cache whose pooled connection is open
    cache = _cache(private_redis.url)
    cache.set("before", 1, 30)
    client = cache._cache.get_client()

    # when Redis dies, a call fails as Django's own backend would
    private_redis.kill()
    with pytest.raises(redis.ConnectionError):
        cache.get("before")

    # then once Redis is back (empty: no persistence) the next call works on the same client
    private_redis.start()
    assert cache.get("before") is None
    cache.set("after", 2, 30)
    assert cache.get("after") == 2
    assert cache._cache.get_client() is client


def test_a_forked_child_builds_its_own_client(private_redis):
    # given a parent with a connected pooled client
    cache = _cache(private_redis.url)
    cache.set("parent", "p", 30)
    parent_client = cache._cache.get_client()
    parent_connection_ids = {id(c) for c in parent_client.connection_pool._available_connections}
    reader, writer = os.pipe()

    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        try:
            child_client = cache._cache.get_client()
            cache.set("child", "c", 30)
            ok = (
                child_client is not parent_client
                and cache.get("parent") == "p"
                and not {id(c) for c in child_client.connection_pool._available_connections}
                & parent_connection_ids
            )
            os.write(writer, b"ok" if ok else b"shared")
        except BaseException as error:  # anything must reach the parent
            os.write(writer, repr(error).encode()[:500])
        finally:
            os._exit(0)

    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        answer = pipe.read().decode()
    os.waitpid(pid, 0)

    # then the child used a client of its own, and the parent's still works
    assert answer == "ok"
    assert cache._cache.get_client() is parent_client
    assert cache.get("child") == "c"
    assert cache.get("parent") == "p"
