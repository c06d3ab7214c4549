"""What a public socket (and the public page) reads to open: a fixed, small number of round trips.

The bench's sockets open as soon as the order's 201 names them, before the projector has
recorded the order: the row is made from the orders context then, and the snapshot read
after the socket joins the order's group. Counted through the connection's execute
wrappers (``assert_statements``), prepared statements included; in a test's transaction,
so the row's INSERT carries no BEGIN and COMMIT (in production it does: two more).
"""

import pytest

from orders import interface as orders_interface
from tracking import consumers, socket_slots
from tracking.live_status import live_status_forget, live_status_get
from tracking.models import TrackedOrder
from tracking.services import pages

pytestmark = pytest.mark.django_db


def test_a_socket_opened_before_the_projector_makes_the_row_in_five_round_trips(
    place, assert_statements
):
    order = place()
    assert not TrackedOrder.objects.filter(pk=order.id).exists()

    # the row by token (none), the order with its shop, its lines, the INSERT, the row stored
    with assert_statements(5):
        tracked, slot = consumers._public_open(
            token=order.tracking_token, client="203.0.113.9", owner="socket-1"
        )

    assert slot is not None
    assert tracked.order_id == order.id
    assert (tracked.status, tracked.sequence) == ("placed", 0)
    assert tracked.shop_name == order.shop.name
    assert tracked.customer_locale == order.customer_locale
    assert tracked.shop_email == order.shop.contact_email
    assert tracked.items == [
        {"sku": line.sku, "name": line.name, "quantity": line.quantity}
        for line in order.lines.all()
    ]


def test_the_snapshot_after_the_join_is_two_round_trips_and_fills_the_live_status(
    place, assert_statements
):
    order = place()
    consumers._public_open(token=order.tracking_token, client="203.0.113.9", owner="socket-1")
    live_status_forget(order.id)

    with assert_statements(2):  # the row by token, the public entries
        tracking = pages.public_tracking_get(token=order.tracking_token)

    assert tracking.order_id == order.id
    assert tracking.snapshot["order"]["status"] == "placed"
    assert (tracking.snapshot["watermark"], tracking.snapshot["entries"]) == (0, [])
    # the live status missed in Redis is set from the row just read, not read again
    assert live_status_get(order.id).status == "placed"


def test_a_projected_orders_socket_opens_in_one_round_trip_and_its_watermark_is_its_newest_entry(
    place, settle, assert_statements
):
    order = place()
    settle()

    with assert_statements(1):
        tracked, _ = consumers._public_open(
            token=order.tracking_token, client="203.0.113.9", owner="socket-1"
        )
    snapshot = pages.public_snapshot(tracked=tracked)

    public = tracked.entries.filter(public=True).order_by("occurred_at", "id")
    assert snapshot["watermark"] == max(entry.id for entry in public)
    assert [entry["status"] for entry in snapshot["entries"]] == [e.status for e in public]
    assert snapshot["order"]["status"] == "confirmed"


def test_an_unknown_token_takes_no_slot(place, settings):
    settings.TRACKING_SOCKETS_PER_CLIENT = 1
    place()

    assert consumers._public_open(token="no-such-token", client="198.51.100.23", owner="a") is None
    assert consumers._public_open(token="bad\x00token", client="198.51.100.23", owner="b") is None

    # the client's one slot is still free
    assert socket_slots.slot_claim(client="198.51.100.23", owner="c") is not None


def test_tracking_details_by_token_are_the_same_as_by_id(place):
    order = place()

    by_token = orders_interface.order_tracking_details(token=order.tracking_token)

    assert by_token == orders_interface.order_tracking_details(order_id=order.id)
    assert by_token.items == tuple(
        (line.sku, line.name, line.quantity) for line in order.lines.all()
    )
    assert orders_interface.order_tracking_details(token="no-such-token") is None
    with pytest.raises(TypeError):
        orders_interface.order_tracking_details(order_id=order.id, token=order.tracking_token)
    with pytest.raises(TypeError):
        orders_interface.order_tracking_details()


def test_the_shops_api_view_of_an_unrecorded_order_reads_its_details_once(place, assert_statements):
    order = place()
    live_status_forget(order.id)

    # the row (none), the order with its shop, its lines, the INSERT, the row stored, the history
    with assert_statements(6):
        view = pages.tracking_for_shop_order(shop_id=order.shop_id, order_id=order.id)

    assert (view["status"], view["history"]) == ("placed", [])
    assert live_status_get(order.id).status == "placed"


def test_another_shops_order_is_not_recorded_by_the_api_view(place):
    order = place()

    assert pages.tracking_for_shop_order(shop_id=order.shop_id + 1, order_id=order.id) is None
    assert not TrackedOrder.objects.filter(pk=order.id).exists()


def test_a_token_with_a_nul_byte_finds_no_row_rather_than_an_error(place, settle):
    from tracking import selectors

    order = place()
    settle()

    assert selectors.tracked_order_for_token(token=order.tracking_token + "\x00") is None
    assert selectors.tracked_order_for_token(token=order.tracking_token).order_id == order.id
