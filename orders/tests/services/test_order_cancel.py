import uuid

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.exceptions import InvalidTransition
from orders.models import Order
from testkit.factories import STAFF, ProductFactory, order_for, order_in

from ..assertions import order_events, row_counts, stock_of

pytestmark = pytest.mark.django_db


def test_cancels_releases_the_stock_and_publishes_order_cancelled(shop, products):
    order = order_in(shop, "paid", lines={"COFFEE-1KG": 2, "MUG": 1})
    assert stock_of(shop) == {"COFFEE-1KG": (50, 2), "MUG": (20, 1), "FILTER": (1000, 0)}

    cancelled = services.order_cancel(order_id=order.pk, shop=shop, actor=STAFF, reason="late")

    assert (cancelled.status, cancelled.status_reason, cancelled.version) == (
        "cancelled",
        "late",
        4,
    )
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.status_reason, saved.version) == ("cancelled", "late", 4)
    assert stock_of(shop) == {"COFFEE-1KG": (50, 0), "MUG": (20, 0), "FILTER": (1000, 0)}
    assert order_events(order) == [
        (1, "order.placed"),
        (2, "stock.reserved"),
        (3, "order.cancelled"),
    ]
    event = OutboxEvent.objects.get(type="order.cancelled")
    assert (event.aggregate_id, event.tenant_id) == (str(order.pk), str(shop.id))
    assert event.data == {
        "order_id": str(order.pk),
        "shop_id": shop.id,
        "number": order.number,
        "previous_status": "paid",
        "reason": "late",
        "cancelled_by": "staff:ana",
        "status": "cancelled",
        "actor": "staff:ana",
    }


def test_cancels_a_placed_order_without_touching_stock(shop, products):
    order = order_for(shop, lines={"COFFEE-1KG": 2})

    services.order_cancel(order_id=order.pk, shop=shop, actor=STAFF)

    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert stock_of(shop) == {"COFFEE-1KG": (50, 0), "MUG": (20, 0), "FILTER": (1000, 0)}
    assert order_events(order) == [(1, "order.placed"), (2, "order.cancelled")]


def test_staff_may_cancel_any_shops_order(shop, products):
    order = order_for(shop)

    services.order_cancel(order_id=order.pk, shop=None, actor=STAFF)

    assert Order.objects.get(pk=order.pk).status == "cancelled"


def test_refuses_from_shipped_with_what_is_allowed_and_changes_nothing(shop, products):
    order = order_in(shop, "shipped")
    before = row_counts()
    stock = stock_of(shop)

    with pytest.raises(InvalidTransition) as refused:
        services.order_cancel(order_id=order.pk, shop=shop, actor=STAFF)

    assert refused.value.status == 409
    assert refused.value.code == "invalid-transition"
    assert refused.value.detail == "The order is shipped; it cannot become cancelled."
    assert refused.value.extra == {
        "order_status": "shipped",
        "allowed_actions": ["out_for_delivery", "deliver"],
    }
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.version) == ("shipped", 5)
    assert row_counts() == before
    assert stock_of(shop) == stock == {"COFFEE-1KG": (49, 0), "MUG": (20, 0), "FILTER": (1000, 0)}


def test_a_shop_cannot_cancel_another_shops_order(shop, other_shop, products):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    theirs = order_for(other_shop)
    before = row_counts()

    with pytest.raises(Order.DoesNotExist):
        services.order_cancel(order_id=theirs.pk, shop=shop, actor=STAFF)

    assert Order.objects.get(pk=theirs.pk).status == "placed"
    assert row_counts() == before


def test_an_unknown_order_does_not_exist(shop):
    with pytest.raises(Order.DoesNotExist):
        services.order_cancel(order_id=uuid.uuid4(), shop=shop, actor=STAFF)
