"""Payment captured: the reserved order becomes paid, then confirmed, in one step."""

import uuid
from decimal import Decimal

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.models import Order, OrderTransition
from testkit.factories import order_for, order_in

from ..assertions import order_events, row_counts, stock_of

pytestmark = pytest.mark.django_db


def test_pays_and_confirms_a_reserved_order(shop, products):
    order = order_in(shop, "reserved", lines={"COFFEE-1KG": 2, "MUG": 1})
    payment_id = uuid.uuid4()

    confirmed = services.order_confirm_payment(
        order_id=order.pk, payment_id=payment_id, amount=Decimal("59.70"), currency="EUR"
    )

    assert (confirmed.status, confirmed.version) == ("confirmed", 4)
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == ("confirmed", 4)
    assert list(
        OrderTransition.objects.filter(order=order).values_list("from_status", "to_status", "actor")
    ) == [
        ("placed", "reserved", "system"),
        ("reserved", "paid", "system"),
        ("paid", "confirmed", "system"),
    ]
    assert order_events(order) == [
        (1, "order.placed"),
        (2, "stock.reserved"),
        (3, "order.paid"),
        (4, "order.confirmed"),
    ]
    assert OutboxEvent.objects.get(type="order.paid").data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "payment_id": str(payment_id),
        "amount": "59.70",
        "currency": "EUR",
        "status": "paid",
        "actor": "system",
    }
    assert OutboxEvent.objects.get(type="order.confirmed").data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "total": "59.70",
        "currency": "EUR",
        "customer_name": "Ana Souza",
        "customer_email": "ana@example.com",
        "status": "confirmed",
        "actor": "system",
        "placed_at": order.created_at.isoformat().replace("+00:00", "Z"),
    }
    # the stock stays held until the parcel leaves
    assert stock_of(shop) == {"COFFEE-1KG": (50, 2), "MUG": (20, 1), "FILTER": (1000, 0)}


@pytest.mark.parametrize("status", ["placed", "confirmed", "cancelled"])
def test_leaves_an_order_that_is_not_reserved_alone(shop, products, status):
    order = order_in(shop, status, lines={"MUG": 2})
    saved = Order.objects.values_list("status", "version").get(pk=order.pk)
    before, stock = row_counts(), stock_of(shop)

    result = services.order_confirm_payment(
        order_id=order.pk, payment_id=uuid.uuid4(), amount=Decimal("19.80"), currency="EUR"
    )

    assert result.status == status
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == saved
    assert row_counts() == before
    assert stock_of(shop) == stock


def test_an_unknown_order_does_not_exist(shop, products):
    order_for(shop)

    with pytest.raises(Order.DoesNotExist):
        services.order_confirm_payment(
            order_id=uuid.uuid4(), payment_id=uuid.uuid4(), amount=Decimal("1.00"), currency="EUR"
        )
