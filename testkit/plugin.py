"""Fixtures every test tree shares (a pytest plugin, registered by the root conftest.py)."""

from contextlib import contextmanager

import pytest
from django.db import connection
from rest_framework.test import APIClient

from .factories import ShopFactory, api_key_for


@pytest.fixture
def shop(db):
    return ShopFactory()


@pytest.fixture
def other_shop(db):
    return ShopFactory()


def client_for(shop) -> APIClient:
    """An API client authenticated with a new key of ``shop``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(shop)}")
    return client


@pytest.fixture
def api(shop) -> APIClient:
    """An API client authenticated as ``shop``."""
    return client_for(shop)


@pytest.fixture
def other_api(other_shop) -> APIClient:
    return client_for(other_shop)


@pytest.fixture
def order_body():
    """A valid ``POST /api/v1/orders`` body (2 x COFFEE-1KG to BR); keywords replace keys."""

    def make(**overrides):
        body = {
            "customer": {"name": "Ana Souza", "email": "ana@example.com"},
            "shipping_address": {
                "line1": "Rua A 1",
                "city": "São Paulo",
                "postal_code": "01000-000",
                "country": "BR",
            },
            "lines": [{"sku": "COFFEE-1KG", "quantity": 2}],
            "payment": {"token": "tok_ok"},
        }
        body.update(overrides)
        return body

    return make


@pytest.fixture
def assert_statements():
    """Count every statement sent to the database meanwhile, each one a round trip.

    ``with assert_statements(n) as sent:`` — ``sent`` lists them. Through the connection's
    execute wrappers: Django's cursors and the prepared statements (the kernel's
    ``execute_prepared``, the lean paths) alike, which Django's query log does not see.
    ``n`` None counts without asserting.
    """

    @contextmanager
    def expect(count: int | None):
        sent: list[str] = []

        def record(execute, sql, params, many, context):
            sent.append(" ".join(str(sql).split()))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            yield sent
        if count is not None:
            assert len(sent) == count, "\n".join(s[:120] for s in sent)

    return expect


@pytest.fixture(autouse=True)
def _kicks_sent_before_the_next_test():
    """A test's kicks leave with it: what its commits asked of the kicker thread is sent
    (or its send under way awaited) before the next test starts — a kick landing later
    would be a stray task in that test's broker."""
    yield
    from orderflow.events.workqueue import KICKER

    KICKER.flush()


@pytest.fixture(autouse=True)
def _rate_limit_leases_forgotten():
    """Each test starts as a new process would: with no rate-limit lease of an earlier
    test's (a shop id can come again, and its lease would answer for it)."""
    from orders.api.throttling import forget_leases

    forget_leases()
