"""``POST /api/v1/carrier-events``: signed by each carrier, mapped onto the order."""

import json
import time

import pytest
from rest_framework.test import APIClient

from orderflow.models import OutboxEvent
from orders import services
from orders.carriers import carrier_signature
from orders.models import Order, OrderTransition

from ..factories import order_for

SECRET = "demo-post-test-secret-0123456789"
STAFF = services.Actor(kind="staff", name="ana")


@pytest.fixture(autouse=True)
def _carriers(settings):
    settings.CARRIER_SECRETS = {"demo-post": SECRET, "other-post": "other-post-secret-987"}


@pytest.fixture
def shipped(products):
    order = order_for(products["COFFEE-1KG"].shop)
    for step in (
        services.order_reserve_stock,
        lambda order_id: services.order_confirm_payment(
            order_id=order_id, payment_id=order_id, amount=order.total, currency="EUR"
        ),
    ):
        step(order_id=order.id)
    services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier="demo-post", tracking_number="DP-777"
    )
    return Order.objects.get(pk=order.id)


def post(
    body: dict, *, carrier="demo-post", secret=SECRET, timestamp=None, signature=None, key=None
):
    raw = json.dumps(body).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "HTTP_X_CARRIER": carrier,
        "HTTP_X_CARRIER_TIMESTAMP": str(timestamp),
        "HTTP_X_CARRIER_SIGNATURE": signature
        or carrier_signature(secret=secret, timestamp=timestamp, body=raw),
    }
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return APIClient().post(
        "/api/v1/carrier-events", raw, content_type="application/json", **headers
    )


def _events(order) -> list[str]:
    return list(
        OutboxEvent.objects.filter(aggregate_id=str(order.id))
        .order_by("sequence")
        .values_list("type", flat=True)
    )


@pytest.mark.parametrize(
    ("status", "order_status", "event"),
    [
        ("in_transit", "shipped", "shipment.in_transit"),
        ("out_for_delivery", "out_for_delivery", "shipment.out_for_delivery"),
        ("delivered", "delivered", "shipment.delivered"),
        ("delivery_failed", "shipped", "shipment.delivery_failed"),
    ],
)
def test_maps_each_carrier_status_onto_the_order(shipped, status, order_status, event):
    response = post({"tracking_number": "DP-777", "status": status, "location": "Porto"})

    assert response.status_code == 200, response.content
    assert response.json() == {"order_number": shipped.number, "status": order_status}
    shipped.refresh_from_db()
    assert shipped.status == order_status
    row = OutboxEvent.objects.get(aggregate_id=str(shipped.id), type=event)
    assert row.sequence == 6
    if order_status == "shipped":  # a report beside the status keeps the carrier's words
        assert row.data["location"] == "Porto"


def test_a_carrier_transition_is_recorded_as_the_carriers(shipped):
    post({"tracking_number": "DP-777", "status": "out_for_delivery"})
    post({"tracking_number": "DP-777", "status": "delivered", "note": "Left at the door"})

    transitions = OrderTransition.objects.filter(order=shipped).order_by("id")
    assert [(t.to_status, t.actor) for t in transitions][-2:] == [
        ("out_for_delivery", "carrier:demo-post"),
        ("delivered", "carrier:demo-post"),
    ]


def test_the_same_status_again_changes_nothing(shipped):
    post({"tracking_number": "DP-777", "status": "delivered"})
    before = _events(shipped)

    response = post({"tracking_number": "DP-777", "status": "delivered"})

    assert response.status_code == 200
    assert _events(shipped) == before


def test_a_replayed_event_id_answers_the_first_response_once(shipped):
    body = {"tracking_number": "DP-777", "status": "in_transit", "event_id": "e-1"}
    first = post(body, key="e-1")
    again = post(body, key="e-1")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert _events(shipped).count("shipment.in_transit") == 1


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"signature": "sha256=" + "0" * 64}, "The signature does not match the body."),
        ({"secret": "a-guessed-secret"}, "The signature does not match the body."),
        ({"carrier": "nobody-post"}, "Unknown carrier 'nobody-post'."),
        ({"timestamp": int(time.time()) - 3600}, "X-Carrier-Timestamp must be the current"),
        ({"carrier": ""}, "Sign carrier events"),
    ],
)
def test_a_bad_or_missing_signature_is_401_and_changes_nothing(shipped, overrides, detail):
    before = _events(shipped)

    response = post({"tracking_number": "DP-777", "status": "delivered"}, **overrides)

    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"].startswith(detail)
    shipped.refresh_from_db()
    assert shipped.status == "shipped"
    assert _events(shipped) == before


def test_a_body_changed_after_signing_is_refused(shipped):
    timestamp = int(time.time())
    signed = json.dumps({"tracking_number": "DP-777", "status": "in_transit"}).encode()
    response = APIClient().post(
        "/api/v1/carrier-events",
        json.dumps({"tracking_number": "DP-777", "status": "delivered"}),
        content_type="application/json",
        HTTP_X_CARRIER="demo-post",
        HTTP_X_CARRIER_TIMESTAMP=str(timestamp),
        HTTP_X_CARRIER_SIGNATURE=carrier_signature(secret=SECRET, timestamp=timestamp, body=signed),
    )

    assert response.status_code == 401
    shipped.refresh_from_db()
    assert shipped.status == "shipped"


@pytest.mark.parametrize(
    ("carrier", "secret", "number"),
    [
        ("demo-post", SECRET, "DP-000"),
        ("other-post", "other-post-secret-987", "DP-777"),  # another carrier's parcel
    ],
)
def test_an_unknown_tracking_number_is_404_and_changes_nothing(shipped, carrier, secret, number):
    before = _events(shipped)

    response = post(
        {"tracking_number": number, "status": "delivered"}, carrier=carrier, secret=secret
    )

    assert response.status_code == 404, response.content
    assert response.json()["type"] == "/api/problems/not-found"
    assert number in response.json()["detail"]
    assert _events(shipped) == before


def test_a_status_the_order_cannot_take_is_409(shipped):
    post({"tracking_number": "DP-777", "status": "delivered"})

    response = post({"tracking_number": "DP-777", "status": "in_transit"})

    assert response.status_code == 409
    assert response.json()["type"] == "/api/problems/invalid-transition"
    assert response.json()["order_status"] == "delivered"


def test_an_unknown_status_is_400(shipped):
    response = post({"tracking_number": "DP-777", "status": "teleported"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "status"
