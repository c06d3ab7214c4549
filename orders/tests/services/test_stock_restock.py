"""Restock: units of a shipped order back on hand, once per key (a refund's, a return's)."""

import pytest

from orderflow.models import OutboxEvent
from orders import interface, services
from orders.exceptions import RestockNotPossible
from orders.models import Order, StockRestock
from testkit.factories import STAFF, order_in

from ..assertions import order_events, stock_of

pytestmark = pytest.mark.django_db


def test_puts_shipped_units_back_on_hand_and_publishes_stock_restocked(shop, products):
    order = order_in(shop, "delivered", lines={"COFFEE-1KG": 2, "MUG": 3})
    assert stock_of(shop)["MUG"] == (17, 0)

    restocked = interface.stock_restock(
        order_id=order.pk, lines={"MUG": 2, "COFFEE-1KG": 1}, key="refund:1", actor="staff:ana"
    )

    assert restocked is True
    assert stock_of(shop) == {"COFFEE-1KG": (49, 0), "MUG": (19, 0), "FILTER": (1000, 0)}
    assert order_events(order)[-1][1] == "stock.restocked"
    event = OutboxEvent.objects.get(type="stock.restocked")
    assert (event.aggregate_id, event.tenant_id) == (str(order.pk), str(shop.pk))
    assert event.data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "key": "refund:1",
        "lines": [{"sku": "MUG", "quantity": 2}, {"sku": "COFFEE-1KG", "quantity": 1}],
        "status": "",
        "actor": "staff:ana",
    }


def test_a_retry_with_the_same_key_restocks_nothing(shop, products):
    order = order_in(shop, "shipped", lines={"MUG": 3})
    interface.stock_restock(order_id=order.pk, lines={"MUG": 2}, key="refund:1")

    again = interface.stock_restock(order_id=order.pk, lines={"MUG": 2}, key="refund:1")

    assert again is False
    assert stock_of(shop)["MUG"] == (19, 0)
    assert OutboxEvent.objects.filter(type="stock.restocked").count() == 1
    assert StockRestock.objects.count() == 1


def test_never_puts_back_more_units_than_left_counting_earlier_restocks(shop, products):
    order = order_in(shop, "shipped", lines={"MUG": 3})
    interface.stock_restock(order_id=order.pk, lines={"MUG": 2}, key="return:1")

    with pytest.raises(RestockNotPossible) as refused:
        interface.stock_restock(order_id=order.pk, lines={"MUG": 2}, key="return:2")

    assert [(e.attr, e.code) for e in refused.value.errors] == [
        ("lines.0.quantity", "exceeds_restockable")
    ]
    assert "1 MUG" in refused.value.errors[0].detail
    assert stock_of(shop)["MUG"] == (19, 0)
    assert StockRestock.objects.count() == 1
    interface.stock_restock(order_id=order.pk, lines={"MUG": 1}, key="return:3")
    assert stock_of(shop)["MUG"] == (20, 0)


@pytest.mark.parametrize("status", ["placed", "reserved", "confirmed", "cancelled"])
def test_an_order_that_has_not_shipped_restocks_nothing(shop, products, status):
    order = order_in(shop, status, lines={"MUG": 3})
    before = stock_of(shop)
    events = OutboxEvent.objects.count()

    with pytest.raises(RestockNotPossible) as refused:
        interface.stock_restock(order_id=order.pk, lines={"MUG": 1}, key="refund:1")

    assert [(e.attr, e.code) for e in refused.value.errors] == [("restock", "not_shipped")]
    assert stock_of(shop) == before
    assert OutboxEvent.objects.count() == events
    assert not StockRestock.objects.exists()


def test_a_sku_not_on_the_order_is_refused(shop, products):
    order = order_in(shop, "shipped", lines={"MUG": 1})

    with pytest.raises(RestockNotPossible) as refused:
        interface.stock_restock_check(order_id=order.pk, lines={"FILTER": 1})

    assert [(e.attr, e.code) for e in refused.value.errors] == [
        ("lines.0.quantity", "exceeds_restockable")
    ]


def test_a_partly_shipped_order_restocks_what_left_in_its_parcels_only(shop, products):
    order = order_in(shop, "confirmed", lines={"COFFEE-1KG": 2, "MUG": 3})
    services.shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number="JD00000043",
        lines=[services.ShipmentLineInput(sku="MUG", quantity=2)],
    )
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"
    assert stock_of(shop)["MUG"] == (18, 1)  # two left in the parcel, one still held

    with pytest.raises(RestockNotPossible) as refused:
        interface.stock_restock(order_id=order.pk, lines={"COFFEE-1KG": 1}, key="return:1")
    assert [(e.attr, e.code) for e in refused.value.errors] == [
        ("lines.0.quantity", "exceeds_restockable")
    ]

    interface.stock_restock(order_id=order.pk, lines={"MUG": 2}, key="return:2")

    assert stock_of(shop)["MUG"] == (20, 1)
    with pytest.raises(RestockNotPossible):
        interface.stock_restock(order_id=order.pk, lines={"MUG": 1}, key="return:3")
