"""The staff timeline names who acted: a staff member, a shop key, a carrier or the system."""

import pytest

from orders import services as orders_services
from tracking import payloads, selectors, services
from tracking.models import TrackedOrder, TrackingEntry

from .conftest import CARRIER

STAFF = orders_services.Actor(kind="staff", name="ana")


def _timeline(order_id) -> list[tuple[str, str, str]]:
    snapshot = selectors.timeline_snapshot(tracked=TrackedOrder.objects.get(pk=order_id))
    return [(entry["status"], entry["source"], entry["actor"]) for entry in snapshot["entries"]]


def test_each_entry_records_and_names_its_actor(place, settle):
    order = place()
    settle()
    orders_services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier=CARRIER, tracking_number="DP-0001"
    )
    orders_services.shipment_report(
        carrier=CARRIER, event_id="c-1", tracking_number="DP-0001", status="in_transit"
    )
    orders_services.shipment_report(
        carrier=CARRIER, event_id="c-2", tracking_number="DP-0001", status="out_for_delivery"
    )
    settle()

    assert _timeline(order.id)[4:] == [
        ("confirmed", "system", "System"),
        ("invoice_issued", "system", "System"),
        ("shipped", "staff", "Staff ana"),
        ("in_transit", "carrier", f"Carrier {CARRIER}"),
        ("out_for_delivery", "carrier", f"Carrier {CARRIER}"),
    ]
    stored = TrackingEntry.objects.get(order_id=order.id, status="shipped")
    assert stored.actor == "staff:ana"


@pytest.mark.parametrize(
    ("actor", "source", "label"),
    [
        ("staff:admin", "staff", "Staff admin"),
        ("shop-key:ab12cd34", "shop", "Shop key ab12cd34"),
        ("carrier:demo-post", "carrier", "Carrier demo-post"),
        ("system", "system", "System"),
        ("", "shop", "Shop"),  # an entry recorded before the actor was kept
        ("", "carrier", "Carrier"),
        ("staff:", "staff", "Staff"),
    ],
)
def test_actor_label(actor, source, label):
    assert payloads.actor_label(actor, source=source) == label


def test_the_shops_api_history_names_no_staff_member(place, settle, shop):
    order = place()
    settle()
    orders_services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier=CARRIER, tracking_number="DP-0002"
    )
    settle()

    history = services.tracking_for_shop_order(shop_id=shop.id, order_id=order.id)["history"]

    assert len(history) == 7
    assert all("actor" not in entry for entry in history)
    assert "ana" not in str(history)
