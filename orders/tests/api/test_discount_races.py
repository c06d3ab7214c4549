"""A discount code's limits hold when many orders race for it (real PostgreSQL, real threads).

Each thread has its own client and database connection, so the conditional increments
really queue on the code's row; no sleep, no timing: the assertions are counts.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from orders.models import Discount, DiscountRedemption, Order
from testkit.factories import ProductFactory, ShopFactory, api_key_for

from ..assertions import assert_problem

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS = 200
LIMIT = 50
#: requests in flight at once (each holds a database connection; PostgreSQL allows 100)
WORKERS = 40


def _body(index: int, email: str | None = None) -> dict:
    return {
        "customer": {"name": f"Customer {index}", "email": email or f"c{index}@example.com"},
        "shipping_address": {
            "line1": "Rua A 1",
            "city": "São Paulo",
            "postal_code": "01000-000",
            "country": "BR",
        },
        "lines": [{"sku": "COFFEE-1KG", "quantity": 1}],
        "payment": {"token": "tok_ok"},
        "discount_codes": ["LAUNCH"],
    }


def _race(raw_key: str, bodies: list[dict]) -> list:
    local = threading.local()
    start = threading.Barrier(WORKERS, timeout=120)  # a lost worker fails, never hangs

    def send(index: int):
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
            start.wait()  # every worker's first request leaves together
        try:
            return client.post("/api/v1/orders", bodies[index], format="json")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(send, range(len(bodies))))


@pytest.fixture
def racing_shop():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=10_000)
    raw_key = api_key_for(shop)
    warm = APIClient()
    warm.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    # django-prometheus creates its metrics on a process's first request, not thread-safely
    assert warm.get("/api/v1/products").status_code == 200
    return shop, raw_key


def test_200_parallel_orders_for_50_uses_place_exactly_50(racing_shop):
    shop, raw_key = racing_shop
    Discount.objects.create(
        shop=shop, code="LAUNCH", kind="percentage", value=Decimal("10"), max_uses=LIMIT
    )

    responses = _race(raw_key, [_body(i) for i in range(ORDERS)])

    statuses = sorted(r.status_code for r in responses)
    placed = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert (len(placed), len(refused)) == (LIMIT, ORDERS - LIMIT), statuses
    for response in refused:
        # taken meanwhile (409) or seen used up when checked (400): both name the code
        if response.status_code == 409:
            problem = assert_problem(response, status=409, type_slug="discount-exhausted")
            assert problem["discount_code"] == "LAUNCH"
        else:
            problem = assert_problem(response, status=400, type_slug="validation-error")
        assert [(e["attr"], e["code"]) for e in problem["errors"]] == [
            ("discount_codes.0", "discount_exhausted")
        ]
    assert all(r.json()["discount_total"] == "2.49" for r in placed)
    assert Discount.objects.get().uses == LIMIT
    assert Order.objects.filter(shop=shop).count() == LIMIT
    assert DiscountRedemption.objects.count() == LIMIT
    assert set(DiscountRedemption.objects.values_list("order_id", flat=True)) == set(
        Order.objects.values_list("id", flat=True)
    )


def test_one_customer_racing_with_a_once_per_customer_code_places_one_order(racing_shop):
    shop, raw_key = racing_shop
    Discount.objects.create(
        shop=shop, code="LAUNCH", kind="fixed", value=Decimal("5.00"), once_per_customer=True
    )

    responses = _race(raw_key, [_body(i, email="same@example.com") for i in range(WORKERS)])

    placed = [r for r in responses if r.status_code == 201]
    assert len(placed) == 1, sorted(r.status_code for r in responses)
    for response in responses:
        if response.status_code != 201:
            assert_problem(response, status=409, type_slug="discount-already-used")
    assert Discount.objects.get().uses == 1
    assert Order.objects.count() == DiscountRedemption.objects.count() == 1
