"""``POST /api/v1/carrier-events``: signed by each carrier, mapped onto the order."""

import json
import logging
import threading
import time
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from orderflow.models import OutboxEvent
from orders import services
from orders.carriers import carrier_signature
from orders.models import CarrierReport, Order, OrderTransition, Shipment
from testkit.factories import ProductFactory, ShopFactory, api_key_for, order_in

SECRET = "demo-post-test-secret-0123456789"
STAFF = services.Actor(kind="staff", name="ana")


@pytest.fixture(autouse=True)
def _carriers(settings):
    settings.CARRIER_SECRETS = {"demo-post": SECRET, "other-post": "other-post-secret-987"}


def _confirmed(shop):
    if not shop.products.filter(sku="COFFEE-1KG").exists():
        ProductFactory(shop=shop, sku="COFFEE-1KG")
    return order_in(shop, "confirmed")


def _ship(order, number="DP-777", carrier="demo-post"):
    return services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier=carrier, tracking_number=number
    )


@pytest.fixture
def shipped(products):
    return Order.objects.get(pk=_ship(_confirmed(products["COFFEE-1KG"].shop)).pk)


def post(
    body: dict,
    *,
    carrier="demo-post",
    secret=SECRET,
    timestamp=None,
    signature=None,
    headers=None,
):
    body = {"event_id": uuid.uuid4().hex, **body}
    raw = json.dumps(body).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = {
        "HTTP_X_CARRIER": carrier,
        "HTTP_X_CARRIER_TIMESTAMP": str(timestamp),
        "HTTP_X_CARRIER_SIGNATURE": signature
        or carrier_signature(secret=secret, timestamp=timestamp, body=raw),
    }
    return APIClient().post(
        "/api/v1/carrier-events",
        raw,
        content_type="application/json",
        **signed,
        **(headers or {}),
    )


def _events(order) -> list[str]:
    return list(
        OutboxEvent.objects.filter(aggregate_id=str(order.id))
        .order_by("sequence")
        .values_list("type", flat=True)
    )


def _state(*orders) -> list[tuple]:
    """What a refused report must leave alone: each order's row and events, and the reports."""
    rows = [
        Order.objects.values_list("status", "version", "carrier", "tracking_number").get(pk=o.pk)
        for o in orders
    ]
    return [rows, [_events(o) for o in orders], CarrierReport.objects.count()]


@pytest.mark.parametrize(
    ("status", "order_status", "event"),
    [
        ("in_transit", "shipped", "shipment.in_transit"),
        ("out_for_delivery", "out_for_delivery", "shipment.out_for_delivery"),
        ("delivered", "delivered", "shipment.delivered"),
        ("delivery_failed", "shipped", "shipment.delivery_failed"),
        ("held", "shipped", "shipment.held"),
        ("returned_to_sender", "shipped", "shipment.returned_to_sender"),
        ("cancelled", "shipped", "shipment.cancelled"),
    ],
)
def test_maps_each_carrier_status_onto_the_order(shipped, status, order_status, event):
    response = post(
        {"tracking_number": "DP-777", "status": status, "location": "Porto", "event_id": "e-1"}
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "order_number": shipped.number,
        "status": order_status,
        "duplicate": False,
    }
    shipped.refresh_from_db()
    assert shipped.status == order_status
    row = OutboxEvent.objects.get(aggregate_id=str(shipped.id), type=event)
    assert row.sequence == 6
    if order_status == "shipped":  # a report beside the status keeps the carrier's words
        assert row.data["location"] == "Porto"
    assert list(CarrierReport.objects.values_list("carrier", "event_id", "order", "status")) == [
        ("demo-post", "e-1", shipped.id, status)
    ]


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
    assert response.json()["duplicate"] is False  # a new event id: a repeat, not a replay
    assert _events(shipped) == before


# --- finding 8: replays -----------------------------------------------------------------------
def test_five_replays_of_a_signed_report_have_exactly_one_effect(shipped):
    """Regression: a captured report replayed within the signature's age acted each time.

    The replays change the unsigned headers an attacker controls (an Idempotency-Key each,
    or none); the event id is inside the signed body, so each replay is the same event.
    """
    timestamp = int(time.time())
    raw = json.dumps(
        {"event_id": "dp-evt-9", "tracking_number": "DP-777", "status": "delivery_failed"}
    ).encode()
    signature = carrier_signature(secret=SECRET, timestamp=timestamp, body=raw)

    def send(extra_headers: dict):
        return APIClient().post(
            "/api/v1/carrier-events",
            raw,
            content_type="application/json",
            HTTP_X_CARRIER="demo-post",
            HTTP_X_CARRIER_TIMESTAMP=str(timestamp),
            HTTP_X_CARRIER_SIGNATURE=signature,
            **extra_headers,
        )

    first = send({})
    replays = [send({"HTTP_IDEMPOTENCY_KEY": f"replay-{n}"} if n % 2 else {}) for n in range(5)]

    assert first.status_code == 200, first.content
    assert first.json() == {"order_number": shipped.number, "status": "shipped", "duplicate": False}
    assert [(r.status_code, r.json()) for r in replays] == [
        (200, {"order_number": shipped.number, "status": "shipped", "duplicate": True})
    ] * 5
    assert _events(shipped).count("shipment.delivery_failed") == 1
    assert CarrierReport.objects.filter(carrier="demo-post", event_id="dp-evt-9").count() == 1


def test_a_replayed_transition_is_a_duplicate_even_after_the_order_moved_on(shipped):
    post({"tracking_number": "DP-777", "status": "in_transit", "event_id": "e-1"})
    post({"tracking_number": "DP-777", "status": "delivered", "event_id": "e-2"})
    before = _state(shipped)

    response = post({"tracking_number": "DP-777", "status": "in_transit", "event_id": "e-1"})

    assert (response.status_code, response.json()["duplicate"]) == (200, True)
    assert response.json()["status"] == "delivered"
    assert _state(shipped) == before


def test_an_event_id_is_the_carriers_own(shipped, products):
    services.shop_carrier_bind(shop=shipped.shop, carrier="other-post")
    other = _ship(_confirmed(products["COFFEE-1KG"].shop), number="OP-1", carrier="other-post")
    post({"tracking_number": "DP-777", "status": "in_transit", "event_id": "e-1"})

    response = post(
        {"tracking_number": "OP-1", "status": "in_transit", "event_id": "e-1"},
        carrier="other-post",
        secret="other-post-secret-987",
    )

    assert (response.status_code, response.json()["duplicate"]) == (200, False)
    assert _events(other).count("shipment.in_transit") == 1


def test_a_refused_report_does_not_use_up_its_event_id(shipped):
    refused = post({"tracking_number": "DP-777", "status": "delivered", "event_id": "e-1"},
                   signature="sha256=" + "0" * 64)  # fmt: skip
    unknown = post({"tracking_number": "DP-000", "status": "delivered", "event_id": "e-2"})

    accepted = [
        post({"tracking_number": "DP-777", "status": "in_transit", "event_id": event_id})
        for event_id in ("e-1", "e-2")
    ]

    assert (refused.status_code, unknown.status_code) == (401, 404)
    assert [(r.status_code, r.json()["duplicate"]) for r in accepted] == [(200, False)] * 2


@pytest.mark.parametrize(
    ("event_id", "code"),
    [
        (None, "required"),
        ("", "blank"),
        ("x" * 101, "max_length"),
        ("e\x00", "null_characters_not_allowed"),
    ],
)
def test_a_report_without_a_usable_event_id_is_400_and_changes_nothing(shipped, event_id, code):
    body = {"tracking_number": "DP-777", "status": "delivered", "event_id": event_id}
    if event_id is None:
        body = {"tracking_number": "DP-777", "status": "delivered"}
    raw = json.dumps(body).encode()
    timestamp = int(time.time())
    before = _state(shipped)

    response = APIClient().post(
        "/api/v1/carrier-events",
        raw,
        content_type="application/json",
        HTTP_X_CARRIER="demo-post",
        HTTP_X_CARRIER_TIMESTAMP=str(timestamp),
        HTTP_X_CARRIER_SIGNATURE=carrier_signature(secret=SECRET, timestamp=timestamp, body=raw),
    )

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert [(e["attr"], e["code"]) for e in response.json()["errors"]] == [("event_id", code)]
    assert _state(shipped) == before


# --- signatures and timestamps ---------------------------------------------------------------
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
    before = _state(shipped)

    response = post({"tracking_number": "DP-777", "status": "delivered"}, **overrides)

    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"].startswith(detail)
    assert _state(shipped) == before


@pytest.mark.parametrize(
    "timestamp",
    [
        "²",  # a digit to str.isdigit, not to int()
        "\u0661\u0667" + "\u0660" * 8,  # Arabic-Indic digits: int() reads them
        "5" * 5000,  # past int()'s 4300-digit limit
        "1" + "0" * 400,  # an int too large to subtract from a float
        "-1700000000",
        "NaN",
        "inf",
        "1.7e9",
        "1700000000.5",
        " 1700000000",
        "1700000000\n",
        "0x6553f100",
        "0",
    ],
)
def test_a_malformed_timestamp_is_401_never_500(shipped, timestamp):
    before = _state(shipped)

    response = post({"tracking_number": "DP-777", "status": "delivered"}, timestamp=timestamp)

    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "X-Carrier-Timestamp must be the current Unix time (within 300 s)."
    )
    assert _state(shipped) == before


def test_a_body_changed_after_signing_is_refused(shipped):
    timestamp = int(time.time())
    signed = json.dumps(
        {"event_id": "e-1", "tracking_number": "DP-777", "status": "in_transit"}
    ).encode()
    response = APIClient().post(
        "/api/v1/carrier-events",
        json.dumps({"event_id": "e-1", "tracking_number": "DP-777", "status": "delivered"}),
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
    before = _state(shipped)

    response = post(
        {"tracking_number": number, "status": "delivered"}, carrier=carrier, secret=secret
    )

    assert response.status_code == 404, response.content
    assert response.json()["type"] == "/api/problems/not-found"
    assert number in response.json()["detail"]
    assert _state(shipped) == before


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


# --- finding 1: carriers bound to shops ----------------------------------------------------
def _ship_by_api(shop, order, **body):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(shop)}")
    return client.post(f"/api/v1/orders/{order.id}/ship", body, format="json")


def test_another_shop_cannot_take_over_a_parcel_by_its_carrier_and_number(shipped):
    """Regression: B shipped its own order with A's carrier and tracking number (both on
    A's public tracking page); the carrier's in_transit and delivered went to B's order.
    """
    shop_b = ShopFactory(carriers=[])
    theirs = _confirmed(shop_b)

    unbound = _ship_by_api(shop_b, theirs, carrier="demo-post", tracking_number="DP-777")
    services.shop_carrier_bind(shop=shop_b, carrier="demo-post")
    taken = _ship_by_api(shop_b, theirs, carrier="Demo-Post", tracking_number="DP-777")
    in_transit = post({"tracking_number": "DP-777", "status": "in_transit", "note": "Porto hub"})
    delivered = post({"tracking_number": "DP-777", "status": "delivered"})

    assert unbound.status_code == 400, unbound.content
    assert [(e["attr"], e["code"]) for e in unbound.json()["errors"]] == [
        ("carrier", "carrier_not_bound")
    ]
    assert taken.status_code == 409, taken.content
    assert taken.json()["type"] == "/api/problems/tracking-number-in-use"
    assert [e["attr"] for e in taken.json()["errors"]] == ["tracking_number"]
    assert (in_transit.status_code, delivered.status_code) == (200, 200)
    assert delivered.json()["order_number"] == shipped.number
    assert Order.objects.get(pk=shipped.pk).status == "delivered"
    assert "shipment.in_transit" in _events(shipped)
    assert Order.objects.values_list("status", "carrier", "tracking_number").get(pk=theirs.pk) == (
        "confirmed",
        "",
        "",
    )
    assert _events(theirs)[-1] == "order.confirmed"


def test_the_index_keeps_one_parcel_on_the_road_per_carrier_and_number(shipped):
    theirs = _ship(_confirmed(ShopFactory()), number="OTHER-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        Shipment.objects.filter(order=theirs).update(carrier="DEMO-POST", tracking_number="DP-777")


def test_a_delivered_parcels_number_may_go_on_the_road_again(shipped):
    post({"tracking_number": "DP-777", "status": "delivered"})
    theirs = _confirmed(ShopFactory())

    response = _ship_by_api(theirs.shop, theirs, carrier="demo-post", tracking_number="DP-777")
    report = post({"tracking_number": "DP-777", "status": "in_transit"})

    assert response.status_code == 200, response.content
    assert report.json() == {"order_number": theirs.number, "status": "shipped", "duplicate": False}
    assert _events(theirs)[-1] == "shipment.in_transit"
    assert Order.objects.get(pk=shipped.pk).status == "delivered"


def test_a_report_on_a_parcel_of_a_shop_no_longer_bound_is_refused_and_logged(shipped, caplog):
    services.shop_carrier_unbind(shop=shipped.shop, carrier="demo-post")
    before = _state(shipped)

    with caplog.at_level(logging.WARNING, logger="orders.services.shipments"):
        response = post({"tracking_number": "DP-777", "status": "delivered", "event_id": "e-9"})

    assert response.status_code == 404, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "No parcel of carrier 'demo-post' has tracking number 'DP-777'."
    )
    assert _state(shipped) == before
    [record] = [r for r in caplog.records if r.getMessage() == "carrier report refused"]
    assert (record.reason, record.carrier, record.tracking_number, record.event_id) == (
        "foreign_shop",
        "demo-post",
        "DP-777",
        "e-9",
    )
    assert (record.order_ids, record.shop_ids) == ([str(shipped.id)], [shipped.shop_id])


def test_a_report_matching_several_parcels_is_refused_and_logged(shipped, caplog):
    post({"tracking_number": "DP-777", "status": "delivered"})
    theirs = _ship(_confirmed(ShopFactory()))
    services.order_deliver(order_id=theirs.id, shop=None, actor=STAFF)
    before = _state(shipped, theirs)

    with caplog.at_level(logging.WARNING, logger="orders.services.shipments"):
        response = post({"tracking_number": "DP-777", "status": "delivered", "event_id": "e-9"})

    assert response.status_code == 409, response.content
    assert response.json()["type"] == "/api/problems/ambiguous-parcel"
    assert _state(shipped, theirs) == before
    [record] = [r for r in caplog.records if r.getMessage() == "carrier report refused"]
    assert record.reason == "ambiguous"
    assert sorted(record.order_ids) == sorted([str(shipped.id), str(theirs.id)])
    assert sorted(record.shop_ids) == sorted([shipped.shop_id, theirs.shop_id])


@pytest.mark.django_db(transaction=True)
def test_the_same_report_sent_in_parallel_has_exactly_one_effect():
    """The same signed report from several connections at once: one applies, the rest are
    duplicates, whatever the interleaving (the order row's lock and the report's unique key).
    """
    shop = ShopFactory()
    order = _ship(_confirmed(shop))
    assert post({"tracking_number": "NOTHING", "status": "in_transit"}).status_code == 404  # warm
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    responses = [None] * threads_count
    body = {"event_id": "dp-evt-1", "tracking_number": "DP-777", "status": "delivery_failed"}

    def send(index: int) -> None:
        try:
            barrier.wait()
            responses[index] = post(body)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted((r.status_code, r.json()["duplicate"]) for r in responses) == [(200, False)] + [
        (200, True)
    ] * (threads_count - 1)
    assert _events(order).count("shipment.delivery_failed") == 1
    assert CarrierReport.objects.filter(event_id="dp-evt-1").count() == 1


def test_a_replay_names_the_parcel_it_was_about_after_its_number_went_on_the_road_again(shipped):
    post({"tracking_number": "DP-777", "status": "delivered", "event_id": "e-1"})
    theirs = _ship(_confirmed(ShopFactory()))
    before = _state(shipped, theirs)

    response = post({"tracking_number": "DP-777", "status": "delivered", "event_id": "e-1"})

    assert response.json() == {
        "order_number": shipped.number,
        "status": "delivered",
        "duplicate": True,
    }
    assert _state(shipped, theirs) == before


# --- exception states (#16): held, returned to sender ---------------------------------------
def test_a_held_parcel_keeps_the_carriers_words_and_may_then_be_delivered(shipped):
    held = post(
        {
            "tracking_number": "DP-777",
            "status": "held",
            "location": "Porto post office",
            "note": "Kept for collection: address incomplete",
        }
    )
    parcel = Shipment.objects.get(order=shipped)
    assert held.status_code == 200, held.content
    assert parcel.status == "held"
    event = OutboxEvent.objects.get(aggregate_id=str(shipped.id), type="shipment.held")
    assert (event.data["location"], event.data["note"], event.data["status"]) == (
        "Porto post office",
        "Kept for collection: address incomplete",
        "",
    )
    assert event.data["shipment_id"] == str(parcel.id)

    delivered = post({"tracking_number": "DP-777", "status": "delivered"})

    assert delivered.json() == {
        "order_number": shipped.number,
        "status": "delivered",
        "duplicate": False,
    }
    assert Shipment.objects.get(order=shipped).status == "delivered"
    assert _events(shipped)[-2:] == ["shipment.held", "shipment.delivered"]


def test_a_parcel_returned_to_sender_takes_no_more_reports(shipped):
    returned = post({"tracking_number": "DP-777", "status": "returned_to_sender"})
    assert returned.status_code == 200, returned.content
    before = _state(shipped)

    later = post({"tracking_number": "DP-777", "status": "delivered"})

    assert later.status_code == 409, later.content
    assert later.json()["shipment_status"] == "returned_to_sender"
    assert "returned to sender" in later.json()["detail"]
    assert _state(shipped) == before
    shipped.refresh_from_db()
    assert shipped.status == "shipped"  # no order status says the parcel is coming back


def test_staff_delivering_the_order_leave_a_parcel_returned_to_sender_as_it_is(shipped):
    post({"tracking_number": "DP-777", "status": "returned_to_sender"})

    services.order_deliver(order_id=shipped.id, shop=None, actor=STAFF)

    assert Shipment.objects.get(order=shipped).status == "returned_to_sender"
    shipped.refresh_from_db()
    assert shipped.status == "delivered"  # staff's word on the order, not the parcel's


def test_a_parcel_the_carrier_cancelled_takes_no_more_reports_and_staff_leave_it(shipped):
    cancelled = post({"tracking_number": "DP-777", "status": "cancelled", "note": "Label voided"})
    assert cancelled.status_code == 200, cancelled.content
    assert Shipment.objects.get(order=shipped).status == "cancelled"
    before = _state(shipped)

    later = post({"tracking_number": "DP-777", "status": "in_transit"})

    assert later.status_code == 409, later.content
    assert later.json()["shipment_status"] == "cancelled"
    assert "cancelled by the carrier" in later.json()["detail"]
    assert _state(shipped) == before
    # staff delivering the order leave the cancelled parcel as it is
    services.order_deliver(order_id=shipped.id, shop=None, actor=STAFF)
    assert Shipment.objects.get(order=shipped).status == "cancelled"
