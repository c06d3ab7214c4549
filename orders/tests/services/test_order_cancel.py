import uuid

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.exceptions import InvalidTransition
from orders.models import Order

from ..assertions import row_counts
from ..factories import ProductFactory, advance, order_for

pytestmark = pytest.mark.django_db

STAFF = services.Actor(kind="staff", name="ana")


def test_cancels_and_publishes_order_cancelled(shop, products):
    order = advance(order_for(shop), to="paid")

    cancelled = services.order_cancel(order_id=order.pk, shop=shop, actor=STAFF, reason="late")

    assert (cancelled.status, cancelled.status_reason, cancelled.version) == (
        "cancelled",
        "late",
        4,
    )
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.status_reason, saved.version) == ("cancelled", "late", 4)
    event = OutboxEvent.objects.get(type="order.cancelled")
    assert (event.aggregate_id, event.sequence, event.tenant_id) == (str(order.pk), 2, str(shop.id))
    assert event.data == {
        "order_id": str(order.pk),
        "shop_id": shop.id,
        "number": order.number,
        "previous_status": "paid",
        "reason": "late",
        "cancelled_by": "staff:ana",
    }


def test_staff_may_cancel_any_shops_order(shop, products):
    order = order_for(shop)

    services.order_cancel(order_id=order.pk, shop=None, actor=STAFF)

    assert Order.objects.get(pk=order.pk).status == "cancelled"


def test_refuses_from_shipped_with_what_is_allowed_and_changes_nothing(shop, products):
    order = advance(order_for(shop), to="shipped")
    before = row_counts()

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
