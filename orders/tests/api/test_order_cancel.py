import uuid

import pytest

from orderflow.models import OutboxEvent
from orders.models import Order, OrderTransition, ShopAPIKey
from testkit.factories import ProductFactory, order_for, order_in

from ..assertions import assert_problem, row_counts, stock_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("status", "held", "sequence"),
    [
        ("placed", (0, 0), 2),
        ("reserved", (2, 1), 3),
        ("paid", (2, 1), 3),
        ("confirmed", (2, 1), 5),
    ],
)
def test_cancels_an_order_before_shipping(api, shop, products, status, held, sequence):
    order = order_in(shop, status, lines={"COFFEE-1KG": 2, "MUG": 1})
    assert stock_of(shop) == {
        "COFFEE-1KG": (50, held[0]),
        "MUG": (20, held[1]),
        "FILTER": (1000, 0),
    }

    response = api.post(
        f"/api/v1/orders/{order.id}/cancel", {"reason": "customer changed mind"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["allowed_actions"]) == ("cancelled", [])
    order.refresh_from_db()
    assert (order.status, order.status_reason) == ("cancelled", "customer changed mind")
    assert stock_of(shop) == {"COFFEE-1KG": (50, 0), "MUG": (20, 0), "FILTER": (1000, 0)}
    event = OutboxEvent.objects.get(type="order.cancelled")
    assert (event.aggregate_id, event.sequence, event.tenant_id) == (
        str(order.id),
        sequence,
        str(shop.id),
    )
    key_prefix = ShopAPIKey.objects.get(shop=shop).prefix
    assert event.data == {
        "order_id": str(order.id),
        "shop_id": shop.id,
        "number": order.number,
        "previous_status": status,
        "reason": "customer changed mind",
        "cancelled_by": f"shop-key:{key_prefix}",
        "status": "cancelled",
        "actor": f"shop-key:{key_prefix}",
    }
    transition = OrderTransition.objects.filter(order=order).latest("id")
    assert (transition.from_status, transition.to_status, transition.actor) == (
        status,
        "cancelled",
        f"shop-key:{key_prefix}",
    )


def test_cancels_without_a_body(api, shop, products):
    order = order_for(shop)

    response = api.post(f"/api/v1/orders/{order.id}/cancel")

    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert (order.status, order.status_reason) == ("cancelled", "")


@pytest.mark.parametrize(
    ("status", "allowed_actions"),
    [
        ("shipped", ["out_for_delivery", "deliver"]),
        ("out_for_delivery", ["deliver"]),
        ("delivered", []),
        ("cancelled", []),
    ],
)
def test_refuses_to_cancel_once_shipped_or_final(api, shop, products, status, allowed_actions):
    order = order_in(shop, status)
    version = Order.objects.get(pk=order.pk).version
    before = row_counts()
    stock = stock_of(shop)

    response = api.post(f"/api/v1/orders/{order.id}/cancel", {}, format="json")

    body = assert_problem(response, status=409, type_slug="invalid-transition")
    assert body["order_status"] == status
    assert body["allowed_actions"] == allowed_actions
    assert body["title"] == "Action not allowed in the order's state"
    assert body["detail"].endswith("it cannot become cancelled.")
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == (status, version)
    assert row_counts() == before
    assert stock_of(shop) == stock


def test_hides_another_shops_order(api, other_shop):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    theirs = order_for(other_shop)
    before = row_counts()

    response = api.post(f"/api/v1/orders/{theirs.id}/cancel", {}, format="json")

    body = assert_problem(response, status=404, type_slug="not-found")
    assert body["detail"] == "No such order."
    assert Order.objects.get(pk=theirs.pk).status == "placed"
    assert row_counts() == before


@pytest.mark.parametrize("order_id", ["not-a-uuid", str(uuid.uuid4())])
def test_answers_404_for_an_id_that_names_no_order(api, shop, products, order_id):
    order_for(shop)
    before = row_counts()

    response = api.post(f"/api/v1/orders/{order_id}/cancel", {}, format="json")

    assert_problem(response, status=404, type_slug="not-found")
    assert row_counts() == before


def test_rejects_a_reason_over_500_characters(api, shop, products):
    order = order_for(shop)
    before = row_counts()

    response = api.post(f"/api/v1/orders/{order.id}/cancel", {"reason": "x" * 501}, format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [("reason", "max_length")]
    assert Order.objects.get(pk=order.pk).status == "placed"
    assert row_counts() == before


def test_replays_a_cancel_sent_again_with_the_same_key(api, shop, products):
    order = order_for(shop)
    first = api.post(
        f"/api/v1/orders/{order.id}/cancel", {}, format="json", HTTP_IDEMPOTENCY_KEY="cancel-1"
    )

    again = api.post(
        f"/api/v1/orders/{order.id}/cancel", {}, format="json", HTTP_IDEMPOTENCY_KEY="cancel-1"
    )

    assert first.status_code == 200, first.content
    assert (again.status_code, again.json()) == (200, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert OutboxEvent.objects.filter(type="order.cancelled").count() == 1
