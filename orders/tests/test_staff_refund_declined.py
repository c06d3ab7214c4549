"""Staff pages when the payment provider declines the refund of a return or of the rest.

The page says so as it did, the return or the order is left as it was, the declined refund
is kept and shown in the order's payment block, and the next try goes through.
"""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from orderflow.models import OutboxEvent
from orders import services as order_services
from orders.models import Order, Product, Return
from orders.services import returns
from orders.services.dispatch import ShipmentLineInput, shipment_create
from payments.gateway import SimulatedGateway
from payments.models import Payment, Refund
from testkit.factories import STAFF, ProductFactory, ShopFactory
from testkit.payments import confirmed_order

from .declining_gateway import decline_first_refund, refund_calls_of, refund_key, refunds_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def supervisor() -> Client:
    user = get_user_model().objects.create_user(
        username="supervisor-user", password="a-long-password-42", is_staff=True
    )
    user.groups.set(Group.objects.filter(name="supervisor"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def shop():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", name="Coffee", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", name="Mug", price="9.90", on_hand=20)
    return shop


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _stock(shop) -> dict[str, tuple[int, int]]:
    return {
        sku: (on_hand, reserved)
        for sku, on_hand, reserved in Product.objects.filter(shop=shop).values_list(
            "sku", "on_hand", "reserved"
        )
    }


def _events(type_: str) -> int:
    return OutboxEvent.objects.filter(type=type_).count()


def test_a_declined_return_refund_is_a_message_kept_and_the_retry_refunds(
    shop, supervisor, monkeypatch
):
    order, _ = confirmed_order(shop)  # paid 59.70: 2 x Coffee, 1 x Mug
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number="JD-R1"
    )
    order_return = returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("MUG", 1)],
        reason="Arrived chipped.",
        actor=STAFF,
    )
    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    returns.return_receive(return_id=order_return.pk, actor=STAFF, restock=True)
    decline_first_refund(monkeypatch)
    stock = _stock(shop)
    step = f"/staff/orders/{order.pk}/returns/{order_return.pk}/refund"

    declined = supervisor.post(step, {"amount": ""}, follow=True)

    assert _messages(declined) == [
        "Not done: The payment provider declined the refund; nothing was refunded. Try again later."
    ]
    assert "Refund 9.90 EUR (failed)" in declined.content.decode()  # the payment block
    saved = Return.objects.get()
    assert (saved.status, saved.refund_id) == ("received", None)
    assert saved.refunded_amount == Decimal("0.00")
    assert refunds_of(order.pk) == [("failed", refund_key(order.pk, 1))]
    assert refund_calls_of(order.pk) == [("declined", refund_key(order.pk, 1))]
    assert (_events("return.refunded"), _events("payment.refunded")) == (0, 0)

    retried = supervisor.post(step, {"amount": ""}, follow=True)

    assert _messages(retried) == ["Return R1 refunded; the customer is told."]
    saved = Return.objects.get()
    succeeded = Refund.objects.get(status="succeeded")
    assert (saved.status, saved.refund_id, saved.refunded_amount) == (
        "refunded",
        succeeded.pk,
        Decimal("9.90"),
    )
    assert refunds_of(order.pk) == [
        ("failed", refund_key(order.pk, 1)),
        ("succeeded", refund_key(order.pk, 2)),
    ]
    assert SimulatedGateway.effects("refund", refund_key(order.pk, 2)) == 1
    assert Payment.objects.get(order_id=order.pk).refunded_amount == Decimal("9.90")
    assert (_events("return.refunded"), _events("payment.refunded")) == (1, 1)
    assert _stock(shop) == stock  # the mug went back on hand once, when it was received


def test_a_declined_refund_of_the_rest_is_a_message_kept_and_the_retry_cancels(
    shop, supervisor, monkeypatch
):
    order, _ = confirmed_order(shop)  # paid 59.70: 2 x Coffee, 1 x Mug
    shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number="JD-REST",
        lines=[ShipmentLineInput("COFFEE-1KG", 1)],
    )
    decline_first_refund(monkeypatch)
    stock = _stock(shop)
    action = f"/staff/orders/{order.pk}/cancel-remainder"

    declined = supervisor.post(action, {"reason": "Mugs sold out"}, follow=True)

    assert _messages(declined) == [
        "Not done: The payment provider declined the refund; nothing was cancelled. "
        "Try again later."
    ]
    assert "Refund 34.80 EUR (failed)" in declined.content.decode()  # the payment block
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"
    assert _stock(shop) == stock
    assert refunds_of(order.pk) == [("failed", refund_key(order.pk, 1))]
    assert refund_calls_of(order.pk) == [("declined", refund_key(order.pk, 1))]
    assert (_events("order.remainder_cancelled"), _events("payment.refunded")) == (0, 0)

    retried = supervisor.post(action, {"reason": "Mugs sold out"}, follow=True)

    assert _messages(retried) == [
        "The rest of the order was cancelled: its stock is released and its share of the "
        "payment is being refunded."
    ]
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.status_reason) == ("shipped", "Mugs sold out")
    assert refunds_of(order.pk) == [
        ("failed", refund_key(order.pk, 1)),
        ("succeeded", refund_key(order.pk, 2)),
    ]
    assert Payment.objects.get(order_id=order.pk).refunded_amount == Decimal("34.80")
    # one coffee and the mug were reserved; their reservations are released once
    assert _stock(shop) == {"COFFEE-1KG": (49, 0), "MUG": (20, 0)}
    assert (_events("order.remainder_cancelled"), _events("payment.refunded")) == (1, 1)
