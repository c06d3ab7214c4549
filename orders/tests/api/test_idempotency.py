import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from orderflow.models import IdempotencyKey, OutboxEvent
from orders.models import Order, OrderLine, Product
from testkit.factories import ProductFactory, ShopFactory, api_key_for

from ..assertions import assert_problem, row_counts

pytestmark = pytest.mark.django_db


def _post(client, body, key: str):
    return client.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_replays_the_first_response_for_the_same_key_and_body(api, products, order_body):
    first = _post(api, order_body(), "order-1")

    again = _post(api, order_body(), "order-1")

    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert (Order.objects.count(), OrderLine.objects.count(), OutboxEvent.objects.count()) == (
        1,
        1,
        1,
    )
    key = IdempotencyKey.objects.get()
    assert (key.key, key.response_status, key.response_body) == ("order-1", 201, first.json())
    assert key.scope == f"shop:{products['MUG'].shop_id}"
    assert OutboxEvent.objects.get().aggregate_id == first.json()["id"]


def test_treats_the_same_body_in_another_key_order_as_the_same_request(api, products, order_body):
    body = order_body()
    reordered = {key: body[key] for key in reversed(list(body))}
    first = _post(api, body, "order-1")

    again = _post(api, reordered, "order-1")

    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1


def test_refuses_the_same_key_with_another_body(api, products, order_body):
    first = _post(api, order_body(), "order-1")
    before = row_counts()

    response = _post(api, order_body(lines=[{"sku": "MUG", "quantity": 1}]), "order-1")

    body = assert_problem(response, status=422, type_slug="idempotency-key-reused")
    assert body["detail"] == (
        "This Idempotency-Key was already used with a different request. "
        "Use a new key for a new request."
    )
    assert row_counts() == before
    assert IdempotencyKey.objects.get().response_body == first.json()


def test_refuses_the_same_key_on_another_endpoint(api, products, order_body):
    _post(api, order_body(), "shared-key")
    before = row_counts()

    response = api.post(
        "/api/v1/products",
        {"sku": "TEA", "name": "Tea", "price": "1.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="shared-key",
    )

    assert_problem(response, status=422, type_slug="idempotency-key-reused")
    assert row_counts() == before


def test_keys_are_per_shop(api, other_api, products, other_shop, order_body):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG", price="1.00")

    mine = _post(api, order_body(), "same-key")
    theirs = _post(other_api, order_body(), "same-key")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs
    assert mine.json()["id"] != theirs.json()["id"]
    assert (mine.json()["total"], theirs.json()["total"]) == ("49.80", "2.00")
    assert Order.objects.count() == 2
    assert IdempotencyKey.objects.filter(key="same-key").count() == 2


def test_runs_a_request_anew_once_its_key_has_expired(api, products, order_body):
    first = _post(api, order_body(), "order-1")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    again = _post(api, order_body(), "order-1")

    assert again.status_code == 201, again.content
    assert "Idempotent-Replayed" not in again
    assert again.json()["id"] != first.json()["id"]
    assert Order.objects.count() == 2
    key = IdempotencyKey.objects.get()
    assert key.response_body["id"] == again.json()["id"]
    assert key.expires_at > timezone.now() + timedelta(hours=23)


def test_an_expired_key_may_carry_another_body(api, products, order_body):
    _post(api, order_body(), "order-1")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    again = _post(api, order_body(lines=[{"sku": "MUG", "quantity": 1}]), "order-1")

    assert again.status_code == 201, again.content
    assert again.json()["total"] == "9.90"


def test_stores_no_key_for_a_rejected_request_so_a_corrected_retry_succeeds(
    api, products, order_body
):
    rejected = _post(api, order_body(lines=[{"sku": "TEAPOT", "quantity": 1}]), "order-1")
    assert_problem(rejected, status=400, type_slug="validation-error")
    assert row_counts()["idempotency_keys"] == 0

    corrected = _post(api, order_body(), "order-1")

    assert corrected.status_code == 201, corrected.content
    assert "Idempotent-Replayed" not in corrected
    assert Order.objects.count() == 1
    assert IdempotencyKey.objects.get().response_body["id"] == corrected.json()["id"]


def test_stores_no_key_for_a_refused_cancel(api, shop, products, order_body):
    placed = _post(api, order_body(), "order-1").json()
    api.post(f"/api/v1/orders/{placed['id']}/cancel", {}, format="json")
    before = row_counts()

    refused = api.post(
        f"/api/v1/orders/{placed['id']}/cancel", {}, format="json", HTTP_IDEMPOTENCY_KEY="c-1"
    )

    assert_problem(refused, status=409, type_slug="invalid-transition")
    assert row_counts() == before


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve-key", "tab\tkey"])
def test_rejects_a_malformed_key(api, products, order_body, key):
    before = row_counts()

    response = _post(api, order_body(), key)

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {"attr": "Idempotency-Key", "code": "invalid", "detail": "Not a valid idempotency key."}
    ]
    assert row_counts() == before


def test_replays_a_product_creation(api, shop):
    body = {"sku": "TEA", "name": "Tea", "price": "1.00"}
    first = api.post("/api/v1/products", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")

    again = api.post("/api/v1/products", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Product.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_places_one_order_when_200_threads_send_the_same_key_at_once(order_body):
    """An idempotency storm: 200 requests with one key and body, released together.

    Each thread has its own client and database connection (from the pool, given back
    when it is done), so the requests really race in PostgreSQL: exactly one places the
    order, each other one either replays it or is told it is in flight, and nothing else
    is written.
    """
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90")
    raw_key = api_key_for(shop)
    body = order_body()
    threads_count = 200
    clients = [APIClient() for _ in range(threads_count)]
    for client in clients:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    # django-prometheus creates its metrics on the first request a process serves, and not
    # thread-safely: serve one first, as a server does before its first burst
    assert clients[0].get("/api/v1/products").status_code == 200
    before = row_counts()
    barrier = threading.Barrier(threads_count)
    responses = [None] * threads_count

    def send(index: int) -> None:
        client = clients[index]
        try:
            barrier.wait()
            responses[index] = _post(client, body, "same-key-same-body")
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(response is not None for response in responses)
    originals = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r]
    replays = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" in r]
    in_flight = [r for r in responses if r.status_code == 409]
    assert len(originals) == 1, [r.status_code for r in responses]
    assert len(originals) + len(replays) + len(in_flight) == threads_count
    assert all(r.json() == originals[0].json() for r in replays)
    assert all(r["Idempotent-Replayed"] == "true" for r in replays)
    for response in in_flight:
        assert_problem(response, status=409, type_slug="request-in-flight")
        assert response["Retry-After"] == "1"
    order = Order.objects.get()
    assert str(order.id) == originals[0].json()["id"]
    assert OutboxEvent.objects.get().aggregate_id == str(order.id)
    assert IdempotencyKey.objects.get().response_body == originals[0].json()
    assert row_counts() == {
        **before,
        "orders": 1,
        "order_lines": 1,
        "order_transitions": before["order_transitions"] + order.transitions.count(),
        "outbox_events": 1,
        "idempotency_keys": 1,
    }


def test_the_placed_event_carries_the_requests_idempotency_key(api, products, order_body):
    response = _post(api, order_body(), "order-key-7")

    assert response.status_code == 201, response.content
    event = OutboxEvent.objects.get(type="order.placed")
    assert (event.aggregate_id, event.idempotency_key) == (response.json()["id"], "order-key-7")


def test_an_order_placed_without_a_key_has_an_empty_one_in_its_event(api, products, order_body):
    response = api.post("/api/v1/orders", order_body(), format="json")

    assert response.status_code == 201, response.content
    assert OutboxEvent.objects.get(type="order.placed").idempotency_key == ""
