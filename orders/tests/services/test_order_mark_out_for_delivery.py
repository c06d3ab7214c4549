"""The carrier is on the way: a shipped order goes out for delivery."""

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.exceptions import InvalidTransition
from orders.models import Order, OrderTransition, Shipment
from testkit.factories import STAFF, ProductFactory, order_in

from ..assertions import order_events, row_counts, stock_of

pytestmark = pytest.mark.django_db


def test_marks_a_shipped_order_out_for_delivery(shop, products):
    order = order_in(shop, "shipped")
    stock = stock_of(shop)

    shipment = Shipment.objects.get(order=order)

    result = services.order_mark_out_for_delivery(order_id=order.pk, shop=shop, actor=STAFF)

    assert result.status == "out_for_delivery"
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == (
        "out_for_delivery",
        6,
    )
    assert order_events(order)[-2:] == [
        (5, "shipment.dispatched"),
        (6, "shipment.out_for_delivery"),
    ]
    assert OutboxEvent.objects.get(type="shipment.out_for_delivery").data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "carrier": "DHL",
        "tracking_number": order.tracking_number,
        "shipment_id": str(shipment.pk),
        "lines": [{"sku": "COFFEE-1KG", "quantity": 1, "name": products["COFFEE-1KG"].name}],
        "service": "",
        "eta": None,
        "status": "out_for_delivery",
        "actor": "staff:ana",
    }
    assert Shipment.objects.get().status == "out_for_delivery"
    transition = OrderTransition.objects.filter(order=order).latest("id")
    assert (transition.from_status, transition.to_status, transition.actor) == (
        "shipped",
        "out_for_delivery",
        "staff:ana",
    )
    assert stock_of(shop) == stock


@pytest.mark.parametrize(
    ("status", "allowed_actions"),
    [
        ("placed", ["cancel"]),
        ("confirmed", ["cancel", "ship"]),
        ("out_for_delivery", ["deliver"]),
        ("delivered", []),
        ("cancelled", []),
    ],
)
def test_refuses_an_order_that_is_not_shipped_and_changes_nothing(
    shop, products, status, allowed_actions
):
    order = order_in(shop, status)
    saved = Order.objects.values_list("status", "version").get(pk=order.pk)
    before, stock = row_counts(), stock_of(shop)

    with pytest.raises(InvalidTransition) as refused:
        services.order_mark_out_for_delivery(order_id=order.pk, shop=shop, actor=STAFF)

    assert refused.value.extra == {"order_status": status, "allowed_actions": allowed_actions}
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == saved
    assert row_counts() == before
    assert stock_of(shop) == stock


def test_a_shop_cannot_move_another_shops_order(shop, other_shop, products):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    theirs = order_in(other_shop, "shipped")
    before = row_counts()

    with pytest.raises(Order.DoesNotExist):
        services.order_mark_out_for_delivery(order_id=theirs.pk, shop=shop, actor=STAFF)

    assert Order.objects.get(pk=theirs.pk).status == "shipped"
    assert row_counts() == before
