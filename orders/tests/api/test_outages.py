"""A dependency outage: the API answers 503 problem+json with Retry-After, and writes nothing.

The database's failures are raised at its boundary (every statement, or every INSERT,
goes through a ``connection.execute_wrapper`` that fails as a lost server would); Redis
is a real, unreachable address.
"""

import logging

import pytest
from django.db import InterfaceError, OperationalError, connection
from psycopg_pool import PoolTimeout

from orderflow.api.problems import OUTAGE_RETRY_AFTER_SECONDS
from orders.models import Order

from ..assertions import assert_problem, row_counts

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


def _failing(error: Exception, *, only: str = ""):
    def wrapper(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(only):
            raise error
        return execute(sql, params, many, context)

    return wrapper


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
        PoolTimeout("couldn't get a connection after 3.00 sec"),
    ],
    ids=["operational", "interface", "pool-timeout"],
)
def test_an_unreachable_database_during_authentication_answers_503(
    api, products, order_body, error
):
    before = row_counts()

    with connection.execute_wrapper(_failing(error)):
        response = api.post("/api/v1/orders", order_body(), format="json")

    body = assert_problem(response, status=503, type_slug="service-unavailable")
    assert body["title"] == "Service unavailable"
    assert response["Retry-After"] == str(OUTAGE_RETRY_AFTER_SECONDS)
    assert row_counts() == before


# the DRF view's first INSERT, or the lean intake's write (one WITH … INSERT statement)
@pytest.mark.parametrize(("lean", "write"), [(False, "INSERT"), (True, "WITH")])
def test_a_database_lost_while_placing_an_order_answers_503_and_writes_nothing(
    api, products, order_body, settings, lean, write
):
    settings.ORDER_INTAKE_LEAN = lean
    before = row_counts()

    with connection.execute_wrapper(
        _failing(OperationalError("terminating connection"), only=write)
    ):
        response = api.post(
            "/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="outage-1"
        )

    assert_problem(response, status=503, type_slug="service-unavailable")
    assert response["Retry-After"] == str(OUTAGE_RETRY_AFTER_SECONDS)
    assert row_counts() == before
    # the retry, once the database is back, places the order once
    retried = api.post(
        "/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="outage-1"
    )
    assert retried.status_code == 201, retried.content
    assert Order.objects.count() == 1


@pytest.fixture
def unreachable_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": UNREACHABLE_REDIS,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def test_the_rate_limit_fails_open_when_the_cache_is_unreachable(
    api, products, unreachable_cache, settings, caplog
):
    settings.API_RATE_LIMIT = "1/minute"

    with caplog.at_level(logging.WARNING, logger="orders.api.throttling"):
        responses = [api.get("/api/v1/products") for _ in range(2)]

    assert [r.status_code for r in responses] == [200, 200]
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    warning = "Rate limit not checked, the cache is unreachable (ConnectionError: "
    assert all(r.getMessage().startswith(warning) for r in caplog.records)
