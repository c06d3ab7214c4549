"""Payment failed for good: the reserved order is cancelled and its stock released."""

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.models import Order, OrderTransition
from testkit.factories import order_in

from ..assertions import order_events, row_counts, stock_of

pytestmark = pytest.mark.django_db


def test_cancels_a_reserved_order_and_releases_its_stock(shop, products):
    order = order_in(shop, "reserved", lines={"COFFEE-1KG": 2, "MUG": 1})

    cancelled = services.order_fail_payment(order_id=order.pk, reason="The card was declined.")

    reason = "Payment failed: The card was declined."
    assert (cancelled.status, cancelled.status_reason) == ("cancelled", reason)
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.version, saved.status_reason) == ("cancelled", 3, reason)
    assert stock_of(shop) == {"COFFEE-1KG": (50, 0), "MUG": (20, 0), "FILTER": (1000, 0)}
    assert order_events(order) == [
        (1, "order.placed"),
        (2, "stock.reserved"),
        (3, "order.cancelled"),
    ]
    assert OutboxEvent.objects.get(type="order.cancelled").data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "previous_status": "reserved",
        "reason": reason,
        "cancelled_by": "system",
        "status": "cancelled",
        "actor": "system",
    }
    transition = OrderTransition.objects.filter(order=order).latest("id")
    assert (transition.from_status, transition.to_status, transition.actor, transition.reason) == (
        "reserved",
        "cancelled",
        "system",
        reason,
    )


@pytest.mark.parametrize("status", ["placed", "confirmed", "cancelled"])
def test_leaves_an_order_that_is_not_reserved_alone(shop, products, status):
    order = order_in(shop, status, lines={"MUG": 2})
    saved = Order.objects.values_list("status", "version").get(pk=order.pk)
    before, stock = row_counts(), stock_of(shop)

    result = services.order_fail_payment(order_id=order.pk, reason="declined")

    assert result.status == status
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == saved
    assert row_counts() == before
    assert stock_of(shop) == stock
