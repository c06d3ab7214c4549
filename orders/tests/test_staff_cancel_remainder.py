"""The staff order page's 'Cancel what has not shipped…': shown by role, confirmed, refused."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from orderflow.models import OutboxEvent
from orders.models import Order
from orders.services.dispatch import ShipmentLineInput, shipment_create
from payments.models import Payment, Refund
from testkit.factories import STAFF, ProductFactory, ShopFactory
from testkit.payments import confirmed_order

pytestmark = pytest.mark.django_db

BUTTON = 'data-action="cancel_remainder"'


def _client_with(role: str) -> Client:
    user = get_user_model().objects.create_user(
        username=f"{role}-user", password="a-long-password-42", is_staff=True
    )
    user.groups.set(Group.objects.filter(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def order():
    """Paid 59.70 (2 x Coffee at 24.90, 1 x Mug at 9.90); one coffee has left."""
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", name="Coffee", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", name="Mug", price="9.90", on_hand=20)
    order, _ = confirmed_order(shop)
    shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number=f"JD-{order.number}",
        lines=[ShipmentLineInput("COFFEE-1KG", 1)],
    )
    return Order.objects.get(pk=order.pk)


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _shown(page: str) -> bool:
    """The button is on the page and not hidden (the page's script shows it by status too)."""
    tag = page[page.index(BUTTON) :].split(">", 1)[0]
    return " hidden" not in tag


def test_a_supervisor_sees_the_action_an_operator_has_it_hidden(order):
    supervisor = _client_with("supervisor").get(f"/staff/orders/{order.pk}").content.decode()
    operator = _client_with("operator").get(f"/staff/orders/{order.pk}").content.decode()

    assert _shown(supervisor)
    assert "Cancel what has not shipped…" in supervisor
    assert not _shown(operator)


def test_the_confirmation_names_the_units_that_will_not_ship(order):
    page = _client_with("supervisor").get(f"/staff/orders/{order.pk}/cancel-remainder")

    assert page.status_code == 200
    text = page.content.decode()
    assert (
        "These units have not shipped and will not: "
        "1 \u00d7 Coffee (COFFEE-1KG), 1 \u00d7 Mug (MUG)."
    ) in text
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"


def test_a_supervisor_cancels_the_rest_and_is_told(order):
    client = _client_with("supervisor")

    response = client.post(
        f"/staff/orders/{order.pk}/cancel-remainder", {"reason": "Mugs sold out"}, follow=True
    )

    assert response.redirect_chain[-1][0] == f"/staff/orders/{order.pk}"
    assert _messages(response) == [
        "The rest of the order was cancelled: its stock is released and its share of the "
        "payment is being refunded."
    ]
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.status_reason) == ("shipped", "Mugs sold out")
    payment = Payment.objects.get(order_id=order.pk)
    assert payment.refunded_amount == Decimal("34.80")
    event = OutboxEvent.objects.get(type="order.remainder_cancelled")
    assert event.data["actor"] == "staff:supervisor-user"
    # shipped now: the action is gone from the page
    assert not _shown(response.content.decode())


def test_an_operator_may_not_and_nothing_changes(order):
    response = _client_with("operator").post(
        f"/staff/orders/{order.pk}/cancel-remainder", {"reason": "x"}
    )

    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"
    assert not Refund.objects.exists()


def test_a_refusal_is_a_message_on_the_order_page(order):
    client = _client_with("supervisor")
    client.post(f"/staff/orders/{order.pk}/cancel-remainder", {"reason": ""}, follow=True)

    again = client.post(f"/staff/orders/{order.pk}/cancel-remainder", {"reason": ""}, follow=True)

    [message] = _messages(again)
    assert message.startswith("Not done: Order ")
    assert "nothing is left to cancel" in message
    assert Refund.objects.count() == 1


def test_a_refusal_reads_in_the_staff_members_language(order):
    """The same refusal on a page in pt-BR is Portuguese (the API's, English, is asserted in
    orders/tests/api/test_order_cancel_remainder.py)."""
    client = _client_with("supervisor")
    client.cookies["django_language"] = "pt-br"
    client.post(f"/staff/orders/{order.pk}/cancel-remainder", {"reason": ""}, follow=True)

    again = client.post(f"/staff/orders/{order.pk}/cancel-remainder", {"reason": ""}, follow=True)

    [message] = _messages(again)
    # the order's status named in Portuguese too (#16): "enviado", not "shipped"
    assert message == (
        f"Não feito: O pedido {order.number} está enviado: todas as unidades saíram ou foram "
        "canceladas; não resta nada a cancelar. Uma devolução ou um reembolso devolve o dinheiro."
    )
    assert Refund.objects.count() == 1
