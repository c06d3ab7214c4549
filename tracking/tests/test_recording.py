"""Recording history and the live status: services, snapshot and cache-aside."""

import uuid
from types import SimpleNamespace

from django.db import transaction

from orderflow.models import OutboxEvent
from orders import services as orders_services
from tracking import live_status, services
from tracking.choices import Milestone, TrackingSource
from tracking.live_status import (
    LiveStatus,
    live_status_forget,
    live_status_get,
    live_status_set,
    live_status_set_many,
)
from tracking.models import TrackedOrder, TrackingEntry

from .feed import feed_event


def test_every_event_of_the_saga_becomes_an_entry_and_moves_the_status(place, settle):
    order = place()

    settle()

    tracked = TrackedOrder.objects.get(pk=order.id)
    assert (tracked.status, tracked.sequence) == ("confirmed", 4)
    entries = list(TrackingEntry.objects.filter(order=tracked).order_by("occurred_at", "id"))
    assert sorted(e.status for e in entries) == sorted(
        ["placed", "reserved", "payment_captured", "paid", "confirmed", "invoice_issued"]
    )
    by_status = {e.status: e for e in entries}
    assert [by_status[s].sequence for s in ("placed", "reserved", "paid", "confirmed")] == [
        1,
        2,
        3,
        4,
    ]
    assert by_status["placed"].source == TrackingSource.SHOP
    assert by_status["confirmed"].source == TrackingSource.SYSTEM
    assert not by_status["payment_captured"].public
    assert not by_status["invoice_issued"].public
    assert by_status["confirmed"].public


def test_records_who_moved_the_order(place, settle):
    order = place()
    settle()
    staff = orders_services.Actor(kind="staff", name="ana")
    orders_services.order_ship(
        order_id=order.id, shop=None, actor=staff, carrier="demo-post", tracking_number="DP-1234"
    )
    orders_services.shipment_report(
        carrier="demo-post",
        event_id="e-1",
        tracking_number="DP-1234",
        status="in_transit",
        location="Porto",
    )
    orders_services.shipment_report(
        carrier="demo-post",
        event_id="e-2",
        tracking_number="DP-1234",
        status="delivered",
        location="Lisbon",
    )

    settle()

    entries = {e.status: e for e in TrackingEntry.objects.filter(order_id=order.id)}
    assert entries["shipped"].source == TrackingSource.STAFF
    assert entries["shipped"].note == "Handed to demo-post, tracking number DP-1234"
    assert (entries["in_transit"].source, entries["in_transit"].location) == ("carrier", "Porto")
    assert entries["delivered"].source == "carrier"
    tracked = TrackedOrder.objects.get(pk=order.id)
    assert (tracked.status, tracked.carrier, tracked.tracking_number) == (
        "delivered",
        "demo-post",
        "DP-1234",
    )
    assert services.live_status_for_order(order_id=order.id).status == "delivered"


def _project(*events) -> None:
    with transaction.atomic():
        services.tracking_project(events=list(events))


def test_a_stale_event_is_kept_in_history_but_moves_nothing(place, settle):
    order = place()
    settle()
    reserved = OutboxEvent.objects.get(aggregate_id=str(order.id), type="stock.reserved")
    stale = feed_event("stock.reserved", {**reserved.data, "status": "reserved"}, sequence=2)

    _project(stale)

    tracked = TrackedOrder.objects.get(pk=order.id)
    assert (tracked.status, tracked.sequence) == ("confirmed", 4)
    assert TrackingEntry.objects.filter(event_id=stale.event_id).exists()


def test_the_same_event_twice_is_recorded_once(place, settle):
    order = place()
    settle()
    row = OutboxEvent.objects.get(aggregate_id=str(order.id), type="order.confirmed")
    again = feed_event(row.type, row.data, sequence=row.sequence, event_id=str(row.event_id))
    before = list(TrackingEntry.objects.values().order_by("id"))
    tracked = TrackedOrder.objects.values().get(pk=order.id)

    _project(again)

    assert list(TrackingEntry.objects.values().order_by("id")) == before
    assert TrackedOrder.objects.values().get(pk=order.id) == tracked


def test_an_event_before_the_order_is_tracked_creates_its_row_from_the_orders_context(place):
    order = place()  # order.placed is not recorded yet
    TrackedOrder.objects.filter(pk=order.id).delete()
    captured = feed_event(
        "payment.captured",
        {
            "payment_id": str(uuid.uuid4()),
            "order_id": str(order.id),
            "shop_id": order.shop_id,
            "amount": "24.90",
            "currency": "EUR",
            "gateway_reference": "gw_1",
        },
        aggregate="payment",
        aggregate_id=str(uuid.uuid4()),
    )

    _project(captured)

    tracked = TrackedOrder.objects.get(pk=order.id)
    assert (tracked.number, tracked.status, tracked.sequence) == (order.number, "placed", 0)
    assert tracked.tracking_token == order.tracking_token
    assert tracked.entries.get().status == Milestone.PAYMENT_CAPTURED


def test_snapshot_never_goes_backwards():
    order_id = uuid.uuid4()
    newer = LiveStatus(
        status="shipped", sequence=5, updated_at="2026-01-01T10:00:00+00:00", next_step="x"
    )
    older = LiveStatus(
        status="paid", sequence=3, updated_at="2026-01-01T09:00:00+00:00", next_step="y"
    )
    try:
        assert live_status_set(order_id, newer) is True
        assert live_status_set(order_id, older) is False
        assert live_status_set(order_id, newer) is False  # a replay of the same
        assert live_status_get(order_id) == newer
    finally:
        live_status_forget(order_id)


def test_a_batch_of_snapshots_is_stored_at_once_and_never_goes_backwards():
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    newer = LiveStatus(status="shipped", sequence=5, updated_at="t5", next_step="x")
    older = LiveStatus(status="paid", sequence=3, updated_at="t3", next_step="y")
    try:
        live_status_set(second, newer)

        stored = live_status_set_many([(first, older), (second, older), (third, newer)])

        assert stored == [True, False, True]
        assert live_status_get(first) == older
        assert live_status_get(second) == newer  # the stored one was newer: it stays
        assert live_status_get(third) == newer
    finally:
        for order_id in (first, second, third):
            live_status_forget(order_id)


def test_a_batch_of_snapshots_loads_the_script_again_when_redis_lost_it(monkeypatch):
    order_id = uuid.uuid4()
    live = LiveStatus(status="paid", sequence=3, updated_at="t3", next_step="y")
    monkeypatch.setattr(live_status, "_set_if_newer", lambda: SimpleNamespace(sha="0" * 40))
    try:
        assert live_status_set_many([(order_id, live)]) == [True]
        assert live_status_get(order_id) == live
    finally:
        live_status_forget(order_id)


def test_reads_rebuild_the_snapshot_from_postgresql_on_a_miss(place, settle):
    order = place()
    settle()
    live_status_forget(order.id)

    live = services.live_status_for_order(order_id=order.id)

    assert (live.status, live.sequence, live.next_step) == (
        "confirmed",
        4,
        "Packing and handing to the carrier",
    )
    assert live_status_get(order.id) == live


def test_reads_go_to_redis_first(place, settle):
    order = place()
    settle()
    cached = LiveStatus(status="shipped", sequence=99, updated_at="x", next_step="from redis")
    live_status_forget(order.id)
    live_status_set(order.id, cached)
    try:
        assert services.live_status_for_order(order_id=order.id) == cached
    finally:
        live_status_forget(order.id)
