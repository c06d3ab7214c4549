"""Fulfilment through the API: ship, out for delivery, deliver."""

import uuid

import pytest

from orderflow.models import OutboxEvent
from orders.models import Order, OrderTransition, ShopAPIKey
from testkit.factories import ProductFactory, order_in

from ..assertions import assert_problem, order_events, row_counts, stock_of

pytestmark = pytest.mark.django_db

SHIPMENT = {"carrier": "DHL", "tracking_number": "JD014600003"}


def _body(action: str) -> dict:
    """A valid body for the action: only ship takes fields, the others refuse any."""
    return SHIPMENT if action == "ship" else {}


def _ship(api, order, body=None, **headers):
    return api.post(
        f"/api/v1/orders/{order.pk}/ship",
        SHIPMENT if body is None else body,
        format="json",
        **headers,
    )


def test_ship_answers_the_shipped_order_and_consumes_its_stock(api, shop, products):
    order = order_in(shop, "confirmed", lines={"COFFEE-1KG": 2, "MUG": 1})

    response = _ship(api, order)

    assert response.status_code == 200, response.content
    saved = Order.objects.get(pk=order.pk)
    body = response.json()
    assert {key: body[key] for key in ("id", "status", "allowed_actions")} == {
        "id": str(order.pk),
        "status": "shipped",
        "allowed_actions": ["out_for_delivery", "deliver"],
    }
    assert (body["carrier"], body["tracking_number"]) == ("DHL", "JD014600003")
    assert [
        (parcel["status"], parcel["carrier"], parcel["tracking_number"], parcel["lines"])
        for parcel in body["shipments"]
    ] == [
        (
            "in_transit",
            "DHL",
            "JD014600003",
            [{"sku": "COFFEE-1KG", "quantity": 2}, {"sku": "MUG", "quantity": 1}],
        )
    ]
    assert body["updated_at"] == saved.updated_at.isoformat().replace("+00:00", "Z")
    assert body == api.get(f"/api/v1/orders/{order.pk}").json()
    assert (saved.status, saved.carrier, saved.tracking_number) == (
        "shipped",
        "DHL",
        "JD014600003",
    )
    assert stock_of(shop) == {"COFFEE-1KG": (48, 0), "MUG": (19, 0), "FILTER": (1000, 0)}
    assert order_events(order)[-1] == (5, "shipment.dispatched")
    prefix = ShopAPIKey.objects.get(shop=shop).prefix
    assert OutboxEvent.objects.get(type="shipment.dispatched").data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "carrier": "DHL",
        "tracking_number": "JD014600003",
        "shipment_id": body["shipments"][0]["id"],
        "lines": [
            {"sku": "COFFEE-1KG", "quantity": 2, "name": products["COFFEE-1KG"].name},
            {"sku": "MUG", "quantity": 1, "name": products["MUG"].name},
        ],
        "service": "",
        "eta": None,
        # the facts every order event carries (H5): the status after it, and who asked
        "status": "shipped",
        "actor": f"shop-key:{prefix}",
    }
    assert OrderTransition.objects.filter(order=order).latest("id").actor == f"shop-key:{prefix}"


@pytest.mark.parametrize(
    ("action", "status", "after", "event", "sequence", "allowed_actions"),
    [
        (
            "out-for-delivery",
            "shipped",
            "out_for_delivery",
            "shipment.out_for_delivery",
            6,
            ["deliver"],
        ),
        ("deliver", "out_for_delivery", "delivered", "shipment.delivered", 7, []),
        ("deliver", "shipped", "delivered", "shipment.delivered", 6, []),
    ],
)
def test_a_shipment_step_answers_the_moved_order(
    api, shop, products, action, status, after, event, sequence, allowed_actions
):
    order = order_in(shop, status)
    stock = stock_of(shop)

    response = api.post(f"/api/v1/orders/{order.pk}/{action}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["allowed_actions"]) == (after, allowed_actions)
    assert [parcel["status"] for parcel in body["shipments"]] == [after]
    assert (body["carrier"], body["tracking_number"]) == ("DHL", order.tracking_number)
    assert body == api.get(f"/api/v1/orders/{order.pk}").json()
    assert Order.objects.get(pk=order.pk).status == after
    assert order_events(order)[-1] == (sequence, event)
    assert OutboxEvent.objects.get(type=event).data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "carrier": "DHL",
        "tracking_number": order.tracking_number,
        "shipment_id": body["shipments"][0]["id"],
        "lines": [{"sku": "COFFEE-1KG", "quantity": 1, "name": products["COFFEE-1KG"].name}],
        "service": "",
        "eta": None,
        "status": after,
        "actor": f"shop-key:{ShopAPIKey.objects.get(shop=shop).prefix}",
    }
    assert stock_of(shop) == stock


@pytest.mark.parametrize(
    ("action", "status", "allowed_actions", "target"),
    [
        ("ship", "placed", ["cancel"], "shipped"),
        ("ship", "reserved", ["cancel"], "shipped"),
        ("ship", "shipped", ["out_for_delivery", "deliver"], "shipped"),
        ("ship", "cancelled", [], "shipped"),
        ("out-for-delivery", "confirmed", ["cancel", "ship"], "out for delivery"),
        ("out-for-delivery", "delivered", [], "out for delivery"),
        ("deliver", "confirmed", ["cancel", "ship"], "delivered"),
        ("deliver", "placed", ["cancel"], "delivered"),
    ],
)
def test_an_illegal_step_is_a_409_with_what_is_allowed_and_changes_nothing(
    api, shop, products, action, status, allowed_actions, target
):
    order = order_in(shop, status)
    saved = Order.objects.values_list("status", "version", "carrier", "tracking_number").get(
        pk=order.pk
    )
    before, stock = row_counts(), stock_of(shop)
    body = SHIPMENT if action == "ship" else {}

    response = api.post(f"/api/v1/orders/{order.pk}/{action}", body, format="json")

    problem = assert_problem(response, status=409, type_slug="invalid-transition")
    assert (problem["order_status"], problem["allowed_actions"]) == (status, allowed_actions)
    assert problem["detail"].endswith(f"it cannot become {target}.")
    assert (
        Order.objects.values_list("status", "version", "carrier", "tracking_number").get(
            pk=order.pk
        )
        == saved
    )
    assert row_counts() == before
    assert stock_of(shop) == stock


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"carrier": "DHL", "tracking_number": "JD1"}, [("tracking_number", "invalid")]),
        ({"carrier": "DHL", "tracking_number": "JD 0146"}, [("tracking_number", "invalid")]),
        ({"carrier": "DHL", "tracking_number": "-JD0146"}, [("tracking_number", "invalid")]),
        ({"carrier": "DHL", "tracking_number": "J" * 65}, [("tracking_number", "invalid")]),
        ({"carrier": "DHL"}, [("tracking_number", "required")]),
        ({"tracking_number": "JD0146"}, [("carrier", "required")]),
        ({"carrier": "D" * 51, "tracking_number": "JD0146"}, [("carrier", "max_length")]),
    ],
)
def test_ship_refuses_a_bad_shipment_and_changes_nothing(api, shop, products, body, errors):
    order = order_in(shop, "confirmed")
    before, stock = row_counts(), stock_of(shop)

    response = _ship(api, order, body)

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == errors
    assert Order.objects.values_list("status", "carrier").get(pk=order.pk) == ("confirmed", "")
    assert row_counts() == before
    assert stock_of(shop) == stock


@pytest.mark.parametrize("action", ["ship", "out-for-delivery", "deliver"])
def test_another_shops_order_is_a_404(api, other_shop, action):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    theirs = order_in(other_shop, "confirmed" if action == "ship" else "shipped")
    status = theirs.status
    before, stock = row_counts(), stock_of(other_shop)

    response = api.post(f"/api/v1/orders/{theirs.pk}/{action}", _body(action), format="json")

    body = assert_problem(response, status=404, type_slug="not-found")
    assert body["detail"] == "No such order."
    assert Order.objects.get(pk=theirs.pk).status == status
    assert row_counts() == before
    assert stock_of(other_shop) == stock


@pytest.mark.parametrize("order_id", ["not-a-uuid", str(uuid.uuid4())])
@pytest.mark.parametrize("action", ["ship", "out-for-delivery", "deliver"])
def test_an_id_that_names_no_order_is_a_404(api, shop, products, action, order_id):
    before = row_counts()

    response = api.post(f"/api/v1/orders/{order_id}/{action}", _body(action), format="json")

    assert_problem(response, status=404, type_slug="not-found")
    assert row_counts() == before


def test_ship_sent_again_with_the_same_key_replays_and_ships_once(api, shop, products):
    order = order_in(shop, "confirmed", lines={"MUG": 2})
    first = _ship(api, order, HTTP_IDEMPOTENCY_KEY="ship-1")

    again = _ship(api, order, HTTP_IDEMPOTENCY_KEY="ship-1")

    assert first.status_code == 200, first.content
    assert (again.status_code, again.json()) == (200, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert OutboxEvent.objects.filter(type="shipment.dispatched").count() == 1
    assert OrderTransition.objects.filter(order=order, to_status="shipped").count() == 1
    assert stock_of(shop)["MUG"] == (18, 0)


def test_ship_with_a_used_key_and_another_body_is_a_422(api, shop, products):
    order = order_in(shop, "confirmed", lines={"MUG": 2})
    _ship(api, order, HTTP_IDEMPOTENCY_KEY="ship-1")
    before = row_counts()

    response = _ship(
        api, order, {"carrier": "UPS", "tracking_number": "1Z999AA1"}, HTTP_IDEMPOTENCY_KEY="ship-1"
    )

    assert_problem(response, status=422, type_slug="idempotency-key-reused")
    assert Order.objects.values_list("carrier", "tracking_number").get(pk=order.pk) == (
        "DHL",
        "JD014600003",
    )
    assert row_counts() == before


@pytest.mark.parametrize("action", ["out-for-delivery", "deliver"])
def test_an_action_without_fields_refuses_any_and_changes_nothing(api, shop, products, action):
    order = order_in(shop, "shipped")
    before = row_counts()

    response = api.post(f"/api/v1/orders/{order.pk}/{action}", SHIPMENT, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [
        ("carrier", "unknown_field"),
        ("tracking_number", "unknown_field"),
    ]
    assert Order.objects.get(pk=order.pk).status == "shipped"
    assert row_counts() == before
