"""Carrier reports on an order shipped in several parcels: each parcel moves on its own (#16)."""

from datetime import UTC, datetime

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.exceptions import InvalidTransition
from orders.models import CarrierReport, Order, Shipment
from testkit.factories import STAFF, order_in

pytestmark = pytest.mark.django_db


def _parcel(order, number, **lines):
    return services.shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number=number,
        lines=[services.ShipmentLineInput(sku=sku, quantity=n) for sku, n in lines.items()]
        if lines
        else None,
    )


def _report(number, status, event_id=None, **extra):
    return services.shipment_report(
        carrier="DHL",
        event_id=event_id or f"{number}-{status}",
        tracking_number=number,
        status=status,
        **extra,
    )


@pytest.fixture
def two_parcels(shop, products):
    order = order_in(shop, "confirmed", lines={"COFFEE-1KG": 1, "MUG": 1})
    first = _parcel(order, "JD0001", MUG=1)
    second = _parcel(order, "JD0002")
    return Order.objects.get(pk=order.pk), first, second


def _last_event(event_type):
    return OutboxEvent.objects.filter(type=event_type).latest("sequence").data


def test_a_report_moves_its_own_parcel_and_names_it(two_parcels, products):
    order, first, _ = two_parcels
    eta = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)

    outcome = _report("JD0001", "out_for_delivery", eta=eta)

    assert (outcome.shipment.pk, outcome.duplicate) == (first.pk, False)
    assert dict(Shipment.objects.values_list("tracking_number", "status")) == {
        "JD0001": "out_for_delivery",
        "JD0002": "in_transit",
    }
    assert Shipment.objects.get(pk=first.pk).eta == eta
    # the order has shipped everything: one parcel out for delivery makes it so
    assert Order.objects.get(pk=order.pk).status == "out_for_delivery"
    event = _last_event("shipment.out_for_delivery")
    assert (event["shipment_id"], event["tracking_number"], event["status"]) == (
        str(first.pk),
        "JD0001",
        "out_for_delivery",
    )
    assert event["lines"] == [{"sku": "MUG", "quantity": 1, "name": products["MUG"].name}]
    assert event["eta"] == "2026-12-08T18:00:00Z"
    assert CarrierReport.objects.get().shipment_id == first.pk


def test_the_order_is_delivered_when_every_parcel_is(two_parcels):
    order, _, _ = two_parcels

    _report("JD0001", "delivered")
    after_first = Order.objects.get(pk=order.pk).status
    first_event = _last_event("shipment.delivered")
    _report("JD0002", "delivered")

    assert after_first == "shipped"
    assert first_event["status"] == ""  # the order stayed
    assert Order.objects.get(pk=order.pk).status == "delivered"
    assert _last_event("shipment.delivered")["status"] == "delivered"
    assert set(Shipment.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_partly_shipped_order_stays_so_whatever_its_parcels_do(shop, products):
    order = order_in(shop, "confirmed", lines={"COFFEE-1KG": 2})
    parcel = _parcel(order, "JD0001", **{"COFFEE-1KG": 1})

    _report("JD0001", "out_for_delivery")
    _report("JD0001", "delivered")

    assert Order.objects.get(pk=order.pk).status == "partially_shipped"
    assert Shipment.objects.get(pk=parcel.pk).status == "delivered"
    # the rest ships later; the order is shipped, then delivered with its second parcel
    _parcel(order, "JD0002")
    _report("JD0002", "delivered")
    assert Order.objects.get(pk=order.pk).status == "delivered"


def test_a_failed_attempt_is_kept_on_the_parcel_and_published(two_parcels):
    order, _, _ = two_parcels

    _report("JD0002", "delivery_failed", location="Porto", note="Nobody home")

    assert Shipment.objects.get(tracking_number="JD0002").status == "delivery_failed"
    event = _last_event("shipment.delivery_failed")
    assert (event["tracking_number"], event["location"], event["note"], event["status"]) == (
        "JD0002",
        "Porto",
        "Nobody home",
        "",
    )
    assert Order.objects.get(pk=order.pk).status == "shipped"


def test_a_report_on_a_delivered_parcel_is_refused_and_changes_nothing(two_parcels):
    _report("JD0001", "delivered")
    events = OutboxEvent.objects.count()

    with pytest.raises(InvalidTransition):
        _report("JD0001", "in_transit")

    assert Shipment.objects.get(tracking_number="JD0001").status == "delivered"
    assert OutboxEvent.objects.count() == events


def test_a_replayed_report_names_its_parcel_and_does_nothing(two_parcels):
    _, first, _ = two_parcels
    _report("JD0001", "out_for_delivery", event_id="e-1")
    events = OutboxEvent.objects.count()

    again = _report("JD0001", "delivered", event_id="e-1")

    assert (again.duplicate, again.shipment.pk) == (True, first.pk)
    assert OutboxEvent.objects.count() == events
    assert Shipment.objects.get(pk=first.pk).status == "out_for_delivery"


def test_staff_delivering_the_order_delivers_every_parcel_left(two_parcels):
    order, _, _ = two_parcels
    _report("JD0001", "delivered")

    services.order_deliver(order_id=order.pk, shop=None, actor=STAFF)

    assert set(Shipment.objects.values_list("status", flat=True)) == {"delivered"}
    # one event for the parcel staff delivered; the carrier's was published already
    assert [
        e.data["tracking_number"]
        for e in OutboxEvent.objects.filter(type="shipment.delivered").order_by("sequence")
    ] == ["JD0001", "JD0002"]
