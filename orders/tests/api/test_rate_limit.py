import threading
import uuid

import pytest
from django.core.cache import caches
from django.db import connection
from rest_framework.test import APIClient

from orders import metrics
from orders.api import throttling
from orders.models import Order
from testkit.factories import ProductFactory, ShopFactory, api_key_for

from ..assertions import assert_problem, row_counts

pytestmark = pytest.mark.django_db

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


@pytest.fixture(params=["redis", "locmem"])
def limit(request, settings):
    """Set the per-shop rate limit on an empty cache, in both run modes' caches.

    ``redis`` is the full mode's cache with a key prefix of its own rather than a
    ``cache.clear()``: on Redis that is FLUSHDB, which would also wipe the counters (and
    Celery queues) of any other test run sharing the Redis database, and theirs could count
    against this test's shop ids. ``locmem`` is the embedded mode's cache.
    """
    prefix = f"rate-limit-test-{uuid.uuid4().hex}"
    if request.param == "redis":
        settings.CACHES = {
            name: {**config, "KEY_PREFIX": prefix} for name, config in settings.CACHES.items()
        }
    else:
        settings.CACHES = {"default": {**LOCMEM, "LOCATION": prefix}}

    def set_limit(rate: str) -> None:
        settings.API_RATE_LIMIT = rate

    return set_limit


def test_answers_429_once_the_shop_exceeds_its_rate(api, products, limit):
    limit("3/minute")
    allowed = [api.get("/api/v1/products") for _ in range(3)]

    response = api.get("/api/v1/products")

    assert [r.status_code for r in allowed] == [200, 200, 200]
    body = assert_problem(response, status=429, type_slug="rate-limited")
    assert body["title"] == "Too many requests"
    assert 0 < int(response["Retry-After"]) <= 60
    assert body["detail"].startswith("Request was throttled.")


def test_a_throttled_order_writes_nothing(api, products, order_body, limit):
    limit("3/minute")
    for _ in range(3):
        api.get("/api/v1/products")
    before = row_counts()

    response = api.post("/api/v1/orders", order_body(), format="json")

    assert_problem(response, status=429, type_slug="rate-limited")
    assert row_counts() == before
    assert Order.objects.count() == 0


def test_counts_each_shop_separately(api, other_api, products, limit):
    limit("3/minute")
    for _ in range(3):
        api.get("/api/v1/products")

    mine = api.get("/api/v1/products")
    theirs = other_api.get("/api/v1/products")

    assert (mine.status_code, theirs.status_code) == (429, 200)


def test_an_empty_rate_disables_the_limit(api, shop, products, limit):
    limit("")

    responses = [api.get("/api/v1/products") for _ in range(10)]

    assert [r.status_code for r in responses] == [200] * 10
    # disabled, not merely high: no counter is kept for the shop at all
    assert caches["default"].get(f"throttle:shop:{shop.pk}") is None


def test_counts_the_shops_requests_in_one_expiring_counter(api, shop, products, limit):
    limit("3/minute")

    api.get("/api/v1/products")
    api.get("/api/v1/products")

    stored = caches["default"].get(f"throttle:shop:{shop.pk}")
    count = stored if isinstance(stored, int) else stored[0]  # locmem: (count, ends at)
    assert count == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", ["redis", "locmem"])
def test_exactly_the_limit_passes_when_requests_arrive_together(settings, backend):
    """60 requests released at once against 20/minute: exactly 20 pass, 40 get a 429.

    Each thread has its own client and database connection, so the requests really race;
    DRF's read-modify-write throttle let all 60 through.
    """
    prefix = f"rate-limit-race-{uuid.uuid4().hex}"
    if backend == "redis":
        settings.CACHES = {
            name: {**config, "KEY_PREFIX": prefix} for name, config in settings.CACHES.items()
        }
    else:
        settings.CACHES = {"default": {**LOCMEM, "LOCATION": prefix}}
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="MUG", price="9.90")
    raw_key = api_key_for(shop)
    threads_count, rate = 60, 20
    clients = [APIClient() for _ in range(threads_count)]
    for client in clients:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    # django-prometheus creates its metrics on a process's first request, not thread-safely:
    # serve one (uncounted: no limit yet), as a server does before its first burst
    settings.API_RATE_LIMIT = ""
    assert clients[0].get("/api/v1/products").status_code == 200
    settings.API_RATE_LIMIT = f"{rate}/minute"
    gate = threading.Event()
    ready = threading.Semaphore(0)
    statuses: list[int | None] = [None] * threads_count

    def send(index: int) -> None:
        try:
            ready.release()
            gate.wait()
            statuses[index] = clients[index].get("/api/v1/products").status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for _ in range(threads_count):
        assert ready.acquire(timeout=30)
    gate.set()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200] * rate + [429] * (threads_count - rate)


def test_fails_open_and_counts_it_when_redis_is_unreachable(api, products, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.API_RATE_LIMIT = "1/minute"
    before = metrics.RATE_LIMIT_UNCHECKED._value.get()

    with caplog.at_level("WARNING", logger="orders.api.throttling"):
        responses = [api.get("/api/v1/products") for _ in range(2)]

    assert [r.status_code for r in responses] == [200, 200]
    assert metrics.RATE_LIMIT_UNCHECKED._value.get() == before + 2
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "Rate limit not checked, the cache is unreachable"
    ] * 2


# --- leases: a process takes several of a shop's requests from Redis at once --------------
@pytest.fixture
def redis_counter(settings):
    """The full mode's cache under a key prefix of this test's, and the shop's counter."""
    prefix = f"rate-limit-lease-{uuid.uuid4().hex}"
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": prefix} for name, config in settings.CACHES.items()
    }
    throttling.forget_leases()
    yield lambda shop_id: caches["default"].get(f"throttle:shop:{shop_id}")
    throttling.forget_leases()


def test_a_process_answers_its_leased_requests_without_asking_redis(settings, redis_counter):
    settings.API_RATE_LIMIT = "6400/minute"  # far from the limit: leases of LEASE_MAX

    first = throttling.count_shop_request(7001)
    counter_after_first = redis_counter(7001)
    rest = [throttling.count_shop_request(7001) for _ in range(throttling.LEASE_MAX - 1)]
    counter_after_lease = redis_counter(7001)
    next_lease = throttling.count_shop_request(7001)

    assert first == (True, None)
    assert set(rest) == {(True, None)}
    assert counter_after_first == throttling.LEASE_MAX  # the lease, counted at once
    assert counter_after_lease == throttling.LEASE_MAX  # answered from it
    assert next_lease == (True, None)
    assert redis_counter(7001) == 2 * throttling.LEASE_MAX


def test_exactly_the_limit_passes_across_processes_each_with_its_leases(
    settings, redis_counter, monkeypatch
):
    """Three processes (three lease tables) take turns until each is refused: exactly the
    limit passes, as many leases as they took, whatever each took."""
    settings.API_RATE_LIMIT = "300/minute"
    processes = [{}, {}, {}]
    allowed, refused = 0, [False] * len(processes)
    while not all(refused):
        for index, leases in enumerate(processes):
            if refused[index]:
                continue
            monkeypatch.setattr(throttling, "_leases", leases)
            ok, retry_after = throttling.count_shop_request(7002)
            if ok:
                allowed += 1
            else:
                refused[index] = True
                assert 0 < retry_after <= 60

    assert allowed == 300
    assert redis_counter(7002) >= 300  # the refused asks are counted too, as without leases
    assert max(lease.left for leases in processes for lease in leases.values()) == 0


def test_near_its_limit_a_shop_is_leased_one_request_at_a_time(settings, redis_counter):
    settings.API_RATE_LIMIT = "50/minute"  # 50 // LEASE_SHARE = 0: one at a time

    for expected in (1, 2, 3):
        throttling.count_shop_request(7003)
        assert redis_counter(7003) == expected


def test_while_one_thread_takes_a_lease_the_others_take_their_own_request(
    settings, redis_counter, monkeypatch
):
    """A burst of threads in one process takes one lease, not one each (200 threads each
    leasing 15 of 1000/minute would together hold three windows)."""
    settings.API_RATE_LIMIT = "6400/minute"
    real = throttling._count_on_redis
    in_redis, release = threading.Event(), threading.Event()
    taken: list[int] = []

    def gated(key, window, size):
        taken.append(size)
        if len(taken) == 1:  # the first lease is held here until the others have asked
            in_redis.set()
            assert release.wait(30)
        return real(key, window, size)

    monkeypatch.setattr(throttling, "_count_on_redis", gated)
    first = threading.Thread(target=throttling.count_shop_request, args=(7004,))
    first.start()
    assert in_redis.wait(30)
    others = [throttling.count_shop_request(7004) for _ in range(3)]
    release.set()
    first.join(30)

    assert others == [(True, None)] * 3
    assert taken == [throttling.LEASE_MAX, 1, 1, 1]
    assert redis_counter(7004) == throttling.LEASE_MAX + 3
