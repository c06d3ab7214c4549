"""Dispatch: a confirmed order leaves with a carrier and its held stock is consumed."""

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.exceptions import InvalidTransition
from orders.models import Order, OrderTransition, Shipment
from testkit.factories import STAFF, ProductFactory, order_in

from ..assertions import order_events, row_counts, stock_of

pytestmark = pytest.mark.django_db


def test_ships_consumes_the_stock_and_publishes_shipment_dispatched(shop, products):
    order = order_in(shop, "confirmed", lines={"COFFEE-1KG": 2, "MUG": 1})
    order_in(shop, "reserved", lines={"COFFEE-1KG": 3})  # another order's hold stays

    shipped = services.order_ship(
        order_id=order.pk, shop=shop, actor=STAFF, carrier="DHL", tracking_number="JD014600"
    )

    assert (shipped.status, shipped.carrier, shipped.tracking_number) == (
        "shipped",
        "DHL",
        "JD014600",
    )
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.version, saved.carrier, saved.tracking_number) == (
        "shipped",
        5,
        "DHL",
        "JD014600",
    )
    assert stock_of(shop) == {"COFFEE-1KG": (48, 3), "MUG": (19, 0), "FILTER": (1000, 0)}
    assert order_events(order) == [
        (1, "order.placed"),
        (2, "stock.reserved"),
        (3, "order.paid"),
        (4, "order.confirmed"),
        (5, "shipment.dispatched"),
    ]
    event = OutboxEvent.objects.get(type="shipment.dispatched")
    shipment = Shipment.objects.get(order=order)
    assert (event.aggregate_id, event.tenant_id) == (str(order.pk), str(shop.pk))
    assert event.data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "carrier": "DHL",
        "tracking_number": "JD014600",
        "shipment_id": str(shipment.pk),
        "lines": [
            {"sku": "COFFEE-1KG", "quantity": 2, "name": products["COFFEE-1KG"].name},
            {"sku": "MUG", "quantity": 1, "name": products["MUG"].name},
        ],
        "service": "",
        "eta": None,
        "status": "shipped",
        "actor": "staff:ana",
    }
    shipment_row = (shipment.carrier, shipment.tracking_number, shipment.status, shipment.actor)
    assert shipment_row == ("DHL", "JD014600", "in_transit", "staff:ana")
    assert list(shipment.lines.values_list("sku", "quantity")) == [("COFFEE-1KG", 2), ("MUG", 1)]
    transition = OrderTransition.objects.filter(order=order).latest("id")
    assert (transition.from_status, transition.to_status, transition.actor) == (
        "confirmed",
        "shipped",
        "staff:ana",
    )


@pytest.mark.parametrize(
    ("status", "allowed_actions"),
    [
        ("placed", ["cancel"]),
        ("reserved", ["cancel"]),
        ("shipped", ["out_for_delivery", "deliver"]),
        ("delivered", []),
        ("cancelled", []),
    ],
)
def test_refuses_an_order_that_is_not_confirmed_and_changes_nothing(
    shop, products, status, allowed_actions
):
    order = order_in(shop, status, lines={"MUG": 2})
    saved = Order.objects.values_list("status", "version", "carrier", "tracking_number").get(
        pk=order.pk
    )
    before, stock = row_counts(), stock_of(shop)

    with pytest.raises(InvalidTransition) as refused:
        services.order_ship(
            order_id=order.pk, shop=shop, actor=STAFF, carrier="UPS", tracking_number="1Z999"
        )

    assert refused.value.status == 409
    assert refused.value.extra == {"order_status": status, "allowed_actions": allowed_actions}
    assert (
        Order.objects.values_list("status", "version", "carrier", "tracking_number").get(
            pk=order.pk
        )
        == saved
    )
    assert row_counts() == before
    assert stock_of(shop) == stock


def test_a_shop_cannot_ship_another_shops_order(shop, other_shop, products):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    theirs = order_in(other_shop, "confirmed")
    before, stock = row_counts(), stock_of(other_shop)

    with pytest.raises(Order.DoesNotExist):
        services.order_ship(
            order_id=theirs.pk, shop=shop, actor=STAFF, carrier="DHL", tracking_number="JD0001"
        )

    assert Order.objects.get(pk=theirs.pk).status == "confirmed"
    assert row_counts() == before
    assert stock_of(other_shop) == stock
