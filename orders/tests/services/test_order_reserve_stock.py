"""The saga's first step: hold stock for a placed order, or reject it naming what is short."""

import uuid

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.models import Order, OrderTransition
from testkit.factories import ProductFactory, order_for, order_in

from ..assertions import order_events, row_counts, stock_of

pytestmark = pytest.mark.django_db


def test_holds_the_stock_and_publishes_stock_reserved(shop, products):
    order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1})

    reserved = services.order_reserve_stock(order_id=order.pk)

    assert (reserved.status, reserved.version) == ("reserved", 2)
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.version, saved.status_reason) == ("reserved", 2, "")
    assert stock_of(shop) == {"COFFEE-1KG": (50, 2), "MUG": (20, 1), "FILTER": (1000, 0)}
    assert order_events(order) == [(1, "order.placed"), (2, "stock.reserved")]
    event = OutboxEvent.objects.get(type="stock.reserved")
    assert (event.aggregate, event.aggregate_id, event.tenant_id) == (
        "order",
        str(order.pk),
        str(shop.pk),
    )
    assert event.data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "total": "59.70",
        "currency": "EUR",
        "status": "reserved",
        "actor": "system",
    }
    assert list(
        OrderTransition.objects.filter(order=order).values_list(
            "from_status", "to_status", "actor", "reason"
        )
    ) == [("placed", "reserved", "system", "")]


def test_rejects_a_short_order_naming_each_short_sku_and_holds_nothing(shop, products):
    order = order_for(shop, lines={"COFFEE-1KG": 51, "MUG": 1, "FILTER": 1001})

    rejected = services.order_reserve_stock(order_id=order.pk)

    reason = (
        "Not enough stock: COFFEE-1KG (51 requested, 50 available); "
        "FILTER (1001 requested, 1000 available)"
    )
    assert rejected.status == "rejected"
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.version, saved.status_reason) == ("rejected", 2, reason)
    assert stock_of(shop) == {"COFFEE-1KG": (50, 0), "MUG": (20, 0), "FILTER": (1000, 0)}
    assert order_events(order) == [(1, "order.placed"), (2, "order.rejected")]
    event = OutboxEvent.objects.get(type="order.rejected")
    assert event.data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "reason": reason,
        "short_lines": [
            {"sku": "COFFEE-1KG", "requested": 51, "available": 50},
            {"sku": "FILTER", "requested": 1001, "available": 1000},
        ],
        "status": "rejected",
        "actor": "system",
    }
    assert list(
        OrderTransition.objects.filter(order=order).values_list(
            "from_status", "to_status", "actor", "reason"
        )
    ) == [("placed", "rejected", "system", reason)]


def test_rejects_when_another_order_holds_the_last_units(shop, products):
    order_in(shop, "reserved", lines={"MUG": 18})
    order = order_for(shop, lines={"MUG": 3})

    services.order_reserve_stock(order_id=order.pk)

    event = OutboxEvent.objects.get(type="order.rejected")
    assert event.data["short_lines"] == [{"sku": "MUG", "requested": 3, "available": 2}]
    assert stock_of(shop)["MUG"] == (20, 18)


@pytest.mark.parametrize("first", ["reserved", "rejected"])
def test_a_second_call_changes_nothing(shop, products, first):
    quantity = 2 if first == "reserved" else 21
    order = order_for(shop, lines={"MUG": quantity})
    services.order_reserve_stock(order_id=order.pk)
    saved = Order.objects.values_list("status", "version").get(pk=order.pk)
    before, stock = row_counts(), stock_of(shop)

    again = services.order_reserve_stock(order_id=order.pk)

    assert again.status == first
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == saved
    assert row_counts() == before
    assert stock_of(shop) == stock


def test_does_not_reserve_an_order_cancelled_before_its_turn(shop, products):
    order = order_in(shop, "cancelled", lines={"MUG": 2})
    before = row_counts()

    result = services.order_reserve_stock(order_id=order.pk)

    assert result.status == "cancelled"
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == ("cancelled", 2)
    assert stock_of(shop) == {"COFFEE-1KG": (50, 0), "MUG": (20, 0), "FILTER": (1000, 0)}
    assert row_counts() == before


def test_an_unknown_order_does_not_exist(shop):
    with pytest.raises(Order.DoesNotExist):
        services.order_reserve_stock(order_id=uuid.uuid4())


def test_rejects_an_order_whose_reason_outgrows_the_status_reason(shop):
    skus = [f"SKU-{i:02}-{'X' * 40}" for i in range(10)]
    for sku in skus:
        ProductFactory(shop=shop, sku=sku, on_hand=0)
    order = order_for(shop, lines=dict.fromkeys(skus, 1))

    services.order_reserve_stock(order_id=order.pk)

    event = OutboxEvent.objects.get(type="order.rejected")
    assert len(event.data["short_lines"]) == 10
    assert len(event.data["reason"]) > 500
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.status_reason) == ("rejected", event.data["reason"][:500])
