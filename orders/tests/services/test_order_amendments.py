"""order_change_shipping_address and order_change_customer: locked, refused by state, published."""

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.exceptions import InvalidTransition, OrderInputError
from orders.models import Order
from testkit.factories import STAFF, advance, order_for

from ..assertions import order_events, row_counts

pytestmark = pytest.mark.django_db

ADDRESS = {"line1": "Rua A 1", "city": "São Paulo", "postal_code": "01000-000", "country": "BR"}
NEW_ADDRESS = {"line1": "Rua Nova 5", "city": "Lisboa", "postal_code": "1000-001", "country": "PT"}


@pytest.mark.parametrize("status", ["placed", "reserved", "paid", "confirmed"])
def test_changes_the_address_until_shipping_and_publishes_it(shop, products, status):
    order = advance(order_for(shop), to=status)

    changed = services.order_change_shipping_address(
        order_id=order.pk, shop=shop, actor=STAFF, shipping_address={**NEW_ADDRESS, "line2": ""}
    )

    assert changed.shipping_address == NEW_ADDRESS
    assert Order.objects.get(pk=order.pk).shipping_address == NEW_ADDRESS
    assert order_events(order) == [(1, "order.placed"), (2, "order.shipping_address_changed")]
    event = OutboxEvent.objects.get(type="order.shipping_address_changed")
    assert event.data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "shipping_address": {**NEW_ADDRESS, "line2": "", "region": ""},
        "changed_by": "staff:ana",
        "status": "",
        "actor": "staff:ana",
    }


@pytest.mark.parametrize(
    ("status", "label"),
    [
        ("shipped", "shipped"),
        ("out_for_delivery", "out for delivery"),
        ("delivered", "delivered"),
        ("cancelled", "cancelled"),
        ("rejected", "rejected"),
    ],
)
def test_refuses_the_address_once_shipped_or_ended_and_changes_nothing(
    shop, products, status, label
):
    order = advance(order_for(shop), to=status)
    before = row_counts()

    with pytest.raises(InvalidTransition) as refused:
        services.order_change_shipping_address(
            order_id=order.pk, shop=None, actor=STAFF, shipping_address=NEW_ADDRESS
        )

    assert refused.value.status == 409
    assert refused.value.detail == (
        f"The order is {label}; its shipping address can no longer change."
    )
    assert refused.value.extra["order_status"] == status
    assert Order.objects.get(pk=order.pk).shipping_address == ADDRESS
    assert row_counts() == before


def test_the_same_address_again_changes_and_publishes_nothing(shop, products):
    order = advance(order_for(shop), to="shipped")

    services.order_change_shipping_address(
        order_id=order.pk, shop=None, actor=STAFF, shipping_address={**ADDRESS, "region": ""}
    )

    assert order_events(order) == [(1, "order.placed")]


@pytest.mark.parametrize(
    ("address", "attrs"),
    [
        ({"line1": "Rua Nova 5"}, ["city", "postal_code", "country"]),
        ({**NEW_ADDRESS, "floor": "3"}, ["floor"]),
    ],
)
def test_refuses_an_address_no_serializer_would_pass(shop, products, address, attrs):
    order = order_for(shop)
    before = row_counts()

    with pytest.raises(OrderInputError) as refused:
        services.order_change_shipping_address(
            order_id=order.pk, shop=None, actor=STAFF, shipping_address=address
        )

    assert sorted(error.attr for error in refused.value.errors) == sorted(
        f"shipping_address.{attr}" for attr in attrs
    )
    assert row_counts() == before


def test_another_shops_order_is_not_found(shop, other_shop, products):
    order = order_for(shop)

    with pytest.raises(Order.DoesNotExist):
        services.order_change_shipping_address(
            order_id=order.pk, shop=other_shop, actor=STAFF, shipping_address=NEW_ADDRESS
        )
    with pytest.raises(Order.DoesNotExist):
        services.order_change_customer(
            order_id=order.pk, shop=other_shop, actor=STAFF, name="X", email="x@example.com"
        )

    assert order_events(order) == [(1, "order.placed")]


@pytest.mark.parametrize("status", ["placed", "shipped", "delivered", "cancelled"])
def test_corrects_the_customer_in_any_state_and_publishes_it(shop, products, status):
    order = advance(order_for(shop), to=status)

    services.order_change_customer(
        order_id=order.pk, shop=shop, actor=STAFF, name="Ana Lima", email="lima@example.com"
    )

    saved = Order.objects.get(pk=order.pk)
    assert (saved.customer_name, saved.customer_email, saved.status) == (
        "Ana Lima",
        "lima@example.com",
        status,
    )
    assert order_events(order) == [(1, "order.placed"), (2, "order.customer_changed")]
    assert OutboxEvent.objects.get(type="order.customer_changed").data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "customer_name": "Ana Lima",
        "customer_email": "lima@example.com",
        "changed_by": "staff:ana",
        "status": "",
        "actor": "staff:ana",
    }


def test_the_same_customer_again_publishes_nothing(shop, products):
    order = order_for(shop)

    services.order_change_customer(
        order_id=order.pk, shop=None, actor=STAFF, name="Ana Souza", email="ana@example.com"
    )

    assert order_events(order) == [(1, "order.placed")]
