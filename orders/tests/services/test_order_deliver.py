"""The customer has the parcel: delivered, from out for delivery or straight from shipped."""

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.exceptions import InvalidTransition
from orders.models import Order, OrderTransition, Shipment
from testkit.factories import STAFF, ProductFactory, order_in

from ..assertions import order_events, row_counts, stock_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("status", "sequence"), [("out_for_delivery", 7), ("shipped", 6)])
def test_delivers_and_publishes_shipment_delivered(shop, products, status, sequence):
    order = order_in(shop, status)
    stock = stock_of(shop)

    shipment = Shipment.objects.get(order=order)

    result = services.order_deliver(order_id=order.pk, shop=None, actor=STAFF)

    assert (result.status, result.version) == ("delivered", sequence)
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == (
        "delivered",
        sequence,
    )
    assert order_events(order)[-1] == (sequence, "shipment.delivered")
    assert OutboxEvent.objects.get(type="shipment.delivered").data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "carrier": "DHL",
        "tracking_number": order.tracking_number,
        "shipment_id": str(shipment.pk),
        "lines": [{"sku": "COFFEE-1KG", "quantity": 1, "name": products["COFFEE-1KG"].name}],
        "service": "",
        "eta": None,
        "status": "delivered",
        "actor": "staff:ana",
    }
    assert Shipment.objects.get().status == "delivered"
    transition = OrderTransition.objects.filter(order=order).latest("id")
    assert (transition.from_status, transition.to_status, transition.actor) == (
        status,
        "delivered",
        "staff:ana",
    )
    assert stock_of(shop) == stock


@pytest.mark.parametrize(
    ("status", "allowed_actions"),
    [
        ("placed", ["cancel"]),
        ("reserved", ["cancel"]),
        ("confirmed", ["cancel", "ship"]),
        ("delivered", []),
        ("cancelled", []),
    ],
)
def test_refuses_an_order_not_on_its_way_and_changes_nothing(
    shop, products, status, allowed_actions
):
    order = order_in(shop, status)
    saved = Order.objects.values_list("status", "version").get(pk=order.pk)
    before, stock = row_counts(), stock_of(shop)

    with pytest.raises(InvalidTransition) as refused:
        services.order_deliver(order_id=order.pk, shop=shop, actor=STAFF)

    assert refused.value.extra == {"order_status": status, "allowed_actions": allowed_actions}
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == saved
    assert row_counts() == before
    assert stock_of(shop) == stock


def test_a_shop_cannot_deliver_another_shops_order(shop, other_shop, products):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    theirs = order_in(other_shop, "shipped")
    before = row_counts()

    with pytest.raises(Order.DoesNotExist):
        services.order_deliver(order_id=theirs.pk, shop=shop, actor=STAFF)

    assert Order.objects.get(pk=theirs.pk).status == "shipped"
    assert row_counts() == before
