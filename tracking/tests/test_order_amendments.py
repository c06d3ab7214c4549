"""Staff corrections of an order's address or customer, as tracking records them."""

from orders import services as orders_services
from tracking import payloads, selectors
from tracking.choices import TrackingSource
from tracking.models import TrackedOrder, TrackingEntry

STAFF = orders_services.Actor(kind="staff", name="ana")


def test_an_address_change_is_a_staff_entry_that_keeps_the_status(place, settle):
    order = place()
    settle()

    orders_services.order_change_shipping_address(
        order_id=order.id,
        shop=None,
        actor=STAFF,
        shipping_address={
            "line1": "Rua Nova 5",
            "city": "Lisboa",
            "postal_code": "1000-001",
            "country": "PT",
        },
    )
    settle()

    tracked = TrackedOrder.objects.get(pk=order.id)
    assert (tracked.status, tracked.sequence) == ("confirmed", 5)
    entry = TrackingEntry.objects.get(order=tracked, status="shipping_address_changed")
    assert (entry.sequence, entry.source, entry.note, entry.public) == (
        5,
        TrackingSource.STAFF,
        "Rua Nova 5, 1000-001 Lisboa, PT",
        True,
    )
    public = payloads.public_entry(entry)
    assert (public["label"], public["note"]) == ("Shipping address changed", "")


def test_a_customer_change_moves_the_board_search_to_the_new_email(place, settle):
    order = place()
    settle()

    orders_services.order_change_customer(
        order_id=order.id, shop=None, actor=STAFF, name="Ana Lima", email="lima@example.com"
    )
    settle()

    assert [t.order_id for t in selectors.board_orders(query="lima@example")] == [order.id]
    assert list(selectors.board_orders(query="ana@example.com")) == []
    entry = TrackingEntry.objects.get(order_id=order.id, status="customer_changed")
    assert (entry.sequence, entry.source, entry.note) == (
        5,
        TrackingSource.STAFF,
        "Ana Lima <lima@example.com>",
    )
