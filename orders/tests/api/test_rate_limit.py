import uuid

import pytest
from django.core.cache import cache

from orders.models import Order

from ..assertions import assert_problem, row_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit(settings):
    """Set the per-shop rate limit on an empty cache, so that earlier requests do not count.

    The cache gets a key prefix of its own rather than a ``cache.clear()``: on Redis that
    is FLUSHDB, which would also wipe the counters (and Celery queues) of any other test
    run sharing the Redis database, and theirs could count against this test's shop ids.
    """
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": f"rate-limit-test-{uuid.uuid4().hex}"}
        for name, config in settings.CACHES.items()
    }

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
    # disabled, not merely high: no request history is kept for the shop at all
    assert cache.get(f"throttle:shop:{shop.pk}") is None


def test_keeps_history_per_shop_while_a_limit_is_set(api, shop, products, limit):
    limit("3/minute")

    api.get("/api/v1/products")

    assert len(cache.get(f"throttle:shop:{shop.pk}")) == 1
