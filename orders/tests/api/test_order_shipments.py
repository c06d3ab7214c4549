"""Split shipments through the API: POST/GET /api/v1/orders/{id}/shipments (#16)."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from orderflow.models import OutboxEvent
from orders import services
from orders.exceptions import ShipmentExceedsOrder
from orders.models import Order, OrderTransition, Shipment, ShipmentLine, ShopAPIKey
from testkit.factories import STAFF, ProductFactory, ShopFactory, api_key_for, order_in

from ..assertions import assert_problem, order_events, row_counts, stock_of

pytestmark = pytest.mark.django_db

LINES = {"COFFEE-1KG": 3, "MUG": 2}


def _ship(api, order, body):
    return api.post(f"/api/v1/orders/{order.pk}/shipments", body, format="json")


def _parcel(number="JD0001", **body):
    return {"carrier": "DHL", "tracking_number": number, **body}


def _nothing_written(shop):
    return row_counts(), stock_of(shop), Shipment.objects.count(), ShipmentLine.objects.count()


def test_ships_chosen_lines_and_the_order_is_partially_shipped(api, shop, products):
    order = order_in(shop, "confirmed", lines=LINES)
    prefix = ShopAPIKey.objects.get(shop=shop).prefix

    response = _ship(
        api,
        order,
        _parcel(lines=[{"sku": "COFFEE-1KG", "quantity": 2}], service="express"),
    )

    assert response.status_code == 201, response.content
    body = response.json()
    shipment = Shipment.objects.get()
    order_page = api.get(f"/api/v1/orders/{order.pk}").json()
    assert body == {
        "id": str(shipment.pk),
        "status": "in_transit",
        "carrier": "DHL",
        "service": "express",
        "tracking_number": "JD0001",
        "lines": [{"sku": "COFFEE-1KG", "quantity": 2}],
        "eta": None,
        "tracking_url": order_page["tracking_url"],
        "created_at": shipment.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": shipment.updated_at.isoformat().replace("+00:00", "Z"),
    }
    assert order_page["status"] == "partially_shipped"
    assert order_page["allowed_actions"] == ["ship"]
    assert order_page["shipments"] == [body]
    assert (order_page["carrier"], order_page["tracking_number"]) == ("DHL", "JD0001")
    # only the parcel's units left the warehouse; the rest stay held
    assert stock_of(shop)["COFFEE-1KG"] == (48, 1)
    assert stock_of(shop)["MUG"] == (20, 2)
    assert order_events(order)[-1] == (5, "shipment.dispatched")
    assert OutboxEvent.objects.get(type="shipment.dispatched").data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "carrier": "DHL",
        "tracking_number": "JD0001",
        "shipment_id": str(shipment.pk),
        "lines": [{"sku": "COFFEE-1KG", "quantity": 2, "name": products["COFFEE-1KG"].name}],
        "service": "express",
        "eta": None,
        "status": "partially_shipped",
        "actor": f"shop-key:{prefix}",
    }
    transition = OrderTransition.objects.filter(order=order).latest("id")
    assert (transition.from_status, transition.to_status) == ("confirmed", "partially_shipped")


def test_the_order_is_shipped_when_the_last_units_leave(api, shop, products):
    order = order_in(shop, "confirmed", lines=LINES)
    _ship(api, order, _parcel("JD0001", lines=[{"sku": "COFFEE-1KG", "quantity": 2}]))
    second = _ship(api, order, _parcel("JD0002", lines=[{"sku": "MUG", "quantity": 1}]))

    last = _ship(api, order, _parcel("JD0003"))  # no lines: everything that remains

    assert (second.status_code, last.status_code) == (201, 201), last.content
    assert last.json()["lines"] == [
        {"sku": "COFFEE-1KG", "quantity": 1},
        {"sku": "MUG", "quantity": 1},
    ]
    order.refresh_from_db()
    assert (order.status, order.carrier, order.tracking_number) == ("shipped", "DHL", "JD0003")
    assert stock_of(shop) == {"COFFEE-1KG": (47, 0), "MUG": (18, 0), "FILTER": (1000, 0)}
    # the second parcel did not move the order: its event says so with an empty status
    assert [
        (e.data["tracking_number"], e.data["status"])
        for e in OutboxEvent.objects.filter(type="shipment.dispatched").order_by("sequence")
    ] == [("JD0001", "partially_shipped"), ("JD0002", ""), ("JD0003", "shipped")]
    assert list(OrderTransition.objects.filter(order=order).values_list("to_status", flat=True))[
        -2:
    ] == ["partially_shipped", "shipped"]
    listed = api.get(f"/api/v1/orders/{order.pk}/shipments").json()
    assert [parcel["tracking_number"] for parcel in listed] == ["JD0001", "JD0002", "JD0003"]


def test_ship_sends_everything_that_remains_in_one_parcel(api, shop, products):
    order = order_in(shop, "confirmed", lines=LINES)
    _ship(api, order, _parcel("JD0001", lines=[{"sku": "MUG", "quantity": 2}]))

    response = api.post(
        f"/api/v1/orders/{order.pk}/ship",
        {"carrier": "UPS", "tracking_number": "1Z0002"},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "shipped"
    assert [(p["carrier"], p["lines"]) for p in body["shipments"]] == [
        ("DHL", [{"sku": "MUG", "quantity": 2}]),
        ("UPS", [{"sku": "COFFEE-1KG", "quantity": 3}]),
    ]


def test_more_than_remains_is_a_409_naming_the_sku_and_changes_nothing(api, shop, products):
    order = order_in(shop, "confirmed", lines=LINES)
    _ship(api, order, _parcel("JD0001", lines=[{"sku": "MUG", "quantity": 1}]))
    before = _nothing_written(shop)

    response = _ship(
        api,
        order,
        _parcel(
            "JD0002",
            lines=[{"sku": "COFFEE-1KG", "quantity": 1}, {"sku": "MUG", "quantity": 2}],
        ),
    )

    body = assert_problem(response, status=409, type_slug="shipment-exceeds-order")
    assert "MUG" in body["detail"]
    assert (body["sku"], body["requested"], body["remaining"]) == ("MUG", 2, 1)
    assert body["errors"] == [
        {"attr": "lines.1.quantity", "code": "exceeds_remaining", "detail": body["detail"]}
    ]
    assert _nothing_written(shop) == before
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"


def test_an_unknown_sku_is_a_400_naming_the_line(api, shop, products):
    order = order_in(shop, "confirmed", lines=LINES)
    before = _nothing_written(shop)

    response = _ship(api, order, _parcel(lines=[{"sku": "FILTER", "quantity": 1}]))

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {
            "attr": "lines.0.sku",
            "code": "unknown_sku",
            "detail": "The order has no line with SKU 'FILTER'.",
        }
    ]
    assert _nothing_written(shop) == before


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (_parcel(lines=[]), [("lines", "empty")]),
        (_parcel(lines=[{"sku": "MUG", "quantity": 0}]), [("lines.0.quantity", "min_value")]),
        (_parcel(lines=[{"sku": "MUG", "quantity": "1"}]), [("lines.0.quantity", "invalid")]),
        (_parcel(lines=[{"sku": "MUG"}]), [("lines.0.quantity", "required")]),
        (
            _parcel(lines=[{"sku": "MUG", "quantity": 1, "note": "x"}]),
            [("lines.0.note", "unknown_field")],
        ),
        (
            _parcel(lines=[{"sku": "MUG", "quantity": 1}, {"sku": "MUG", "quantity": 1}]),
            [("lines", "duplicate_sku")],
        ),
        (_parcel(service="two words"), [("service", "invalid")]),
        ({"carrier": "DHL"}, [("tracking_number", "required")]),
        ({"tracking_number": "JD0001"}, [("carrier", "required")]),
        (_parcel("J1"), [("tracking_number", "invalid")]),
        (_parcel(weight=3), [("weight", "unknown_field")]),
    ],
)
def test_an_invalid_body_is_a_400_naming_the_field(api, shop, products, body, errors):
    order = order_in(shop, "confirmed", lines=LINES)
    before = _nothing_written(shop)

    response = _ship(api, order, body)

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == errors
    assert _nothing_written(shop) == before


def test_a_carrier_the_shop_does_not_ship_with_is_a_400(api, shop, products):
    order = order_in(shop, "confirmed", lines=LINES)
    before = _nothing_written(shop)

    response = _ship(api, order, {"carrier": "FedEx", "tracking_number": "FX0001"})

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [("carrier", "carrier_not_bound")]
    assert _nothing_written(shop) == before


def test_a_tracking_number_on_the_road_is_a_409(api, shop, products):
    order = order_in(shop, "confirmed", lines=LINES)
    _ship(api, order, _parcel("JD0001", lines=[{"sku": "MUG", "quantity": 1}]))
    before = _nothing_written(shop)

    response = _ship(api, order, _parcel("JD0001", lines=[{"sku": "MUG", "quantity": 1}]))

    assert_problem(response, status=409, type_slug="tracking-number-in-use")
    assert _nothing_written(shop) == before


@pytest.mark.parametrize("status", ["placed", "reserved", "shipped", "delivered", "cancelled"])
def test_an_order_with_nothing_to_ship_is_a_409(api, shop, products, status):
    order = order_in(shop, status, lines=LINES)
    before = _nothing_written(shop)

    response = _ship(api, order, _parcel("JD0009"))

    body = assert_problem(response, status=409, type_slug="invalid-transition")
    assert body["order_status"] == status
    assert _nothing_written(shop) == before


def test_another_shops_order_is_a_404_both_ways(api, other_api, shop, products):
    order = order_in(shop, "confirmed", lines=LINES)
    before = _nothing_written(shop)

    posted = _ship(other_api, order, _parcel())
    listed = other_api.get(f"/api/v1/orders/{order.pk}/shipments")

    assert_problem(posted, status=404, type_slug="not-found")
    assert_problem(listed, status=404, type_slug="not-found")
    assert_problem(
        api.get(f"/api/v1/orders/{uuid.uuid4()}/shipments"), status=404, type_slug="not-found"
    )
    assert _nothing_written(shop) == before


def test_an_idempotent_retry_answers_the_same_parcel(api, shop, products):
    order = order_in(shop, "confirmed", lines=LINES)
    body = _parcel(lines=[{"sku": "MUG", "quantity": 1}])

    first = api.post(
        f"/api/v1/orders/{order.pk}/shipments", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1"
    )
    again = api.post(
        f"/api/v1/orders/{order.pk}/shipments", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1"
    )

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Shipment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_parcels_never_ship_more_than_was_ordered():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50)
    order = order_in(shop, "confirmed", lines={"COFFEE-1KG": 3})
    workers = 3
    start = threading.Barrier(workers, timeout=60)  # a lost worker fails, never hangs

    def ship(n):
        start.wait()
        try:
            services.shipment_create(
                order_id=order.pk,
                shop=shop,
                actor=STAFF,
                carrier="DHL",
                tracking_number=f"JD000{n}",
                lines=[services.ShipmentLineInput(sku="COFFEE-1KG", quantity=2)],
            )
            return "shipped"
        except ShipmentExceedsOrder as error:
            return error.extra["sku"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(ship, range(workers)))

    # the order's lock serialises them: the first takes 2 of 3, the others find 1 left
    assert sorted(results) == ["COFFEE-1KG", "COFFEE-1KG", "shipped"]
    assert list(ShipmentLine.objects.values_list("sku", "quantity")) == [("COFFEE-1KG", 2)]
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"
    assert stock_of(shop)["COFFEE-1KG"] == (48, 1)


def test_the_order_list_shows_each_orders_parcels(api, shop, products):
    order = order_in(shop, "confirmed", lines=LINES)
    _ship(api, order, _parcel("JD0001", lines=[{"sku": "MUG", "quantity": 1}]))
    other = order_in(shop, "confirmed", lines={"FILTER": 1})

    results = api.get("/api/v1/orders").json()["results"]

    by_id = {result["id"]: result for result in results}
    assert [p["tracking_number"] for p in by_id[str(order.pk)]["shipments"]] == ["JD0001"]
    assert by_id[str(other.pk)]["shipments"] == []


def test_a_client_of_another_shop_cannot_see_parcels_in_its_list(shop, products):
    order = order_in(shop, "confirmed", lines=LINES)
    services.shipment_create(
        order_id=order.pk, shop=shop, actor=STAFF, carrier="DHL", tracking_number="JD0001"
    )
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(ShopFactory())}")

    assert stranger.get("/api/v1/orders").json()["results"] == []
