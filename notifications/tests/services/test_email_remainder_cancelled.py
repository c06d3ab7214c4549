"""The e-mail of a partly shipped order whose rest was cancelled: what will not come, the
money back, shipping not refunded; one e-mail (the refund's own is not sent), in the order's
language."""

import pytest
from django.core import mail

from notifications.choices import SendStatus
from notifications.models import Notification, WebhookDelivery
from orders import services as order_services
from orders.models import Order
from orders.services.dispatch import ShipmentLineInput, shipment_create
from orders.services.remainder import order_cancel_remainder
from testkit.factories import order_for

pytestmark = pytest.mark.django_db

STAFF = order_services.Actor(kind="staff", name="ana")


@pytest.fixture
def partly_shipped_in(shop, products, run_events):
    """A paid order of 2 x COFFEE-1KG and 1 x MUG in ``locale``, one coffee sent, its
    e-mails so far marked sent (to read only the cancellation's below)."""

    def make(locale: str) -> Order:
        order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1}, email="ana@example.com")
        Order.objects.filter(pk=order.pk).update(customer_locale=locale)
        run_events()
        shipment_create(
            order_id=order.pk,
            shop=None,
            actor=STAFF,
            carrier="DHL",
            tracking_number="JD0001",
            lines=[ShipmentLineInput("COFFEE-1KG", 1)],
        )
        run_events()
        Notification.objects.update(status=SendStatus.SENT)
        return Order.objects.get(pk=order.pk)

    return make


def test_one_e_mail_names_the_items_the_refund_and_that_shipping_stays(
    partly_shipped_in, run_events, send_emails
):
    order = partly_shipped_in("en")
    order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF, reason="Sold out")
    run_events()

    send_emails()

    [message] = mail.outbox  # the refund's payment.refunded sends none of its own
    [(html, _mimetype)] = message.alternatives
    assert message.subject == f"Part of order {order.number} will not be sent"
    assert message.to == ["ana@example.com"]
    assert (
        f"Loja Café Azul cancelled the items of your order {order.number} that had not been "
        "sent yet:\n\n  1 x Coffee beans 1 kg\n  1 x Blue mug" in message.body
    )
    assert "The reason given: Sold out" in message.body
    assert (
        "€34.80 for these items is being refunded to the way you paid. Shipping is not "
        "refunded: the rest of your order was sent with it." in message.body
    )
    assert "The items already sent are on their way as before." in message.body
    assert "<li>1 \u00d7 Blue mug</li>" in html
    assert "<strong>€34.80</strong>" in html


def test_in_portuguese(partly_shipped_in, run_events, send_emails):
    order = partly_shipped_in("pt-BR")
    order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF)
    run_events()

    send_emails()

    [message] = mail.outbox
    [(html, _mimetype)] = message.alternatives
    assert message.subject == f"Parte do pedido {order.number} não será enviada"
    assert (
        f"A loja Loja Café Azul cancelou os itens do seu pedido {order.number} que ainda não "
        "tinham sido enviados:" in message.body
    )
    assert "O frete não é reembolsado" in message.body
    assert "Os itens já enviados continuam a caminho, como antes." in message.body
    assert '<html lang="pt-BR">' in html
    for english in ("Hello", "cancelled the items", "Shipping is not refunded"):
        assert english not in message.body + html


def test_the_shops_webhook_gets_the_event(partly_shipped_in, endpoint_at, run_events):
    endpoint = endpoint_at("/hooks", event_types=["order.remainder_cancelled"])
    order = partly_shipped_in("en")
    order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF, reason="Sold out")
    run_events()

    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    data = delivery.payload["data"]
    assert (delivery.event_type, data["status"], data["refunded_amount"]) == (
        "order.remainder_cancelled",
        "shipped",
        "34.80",
    )
    assert [(line["sku"], line["quantity"]) for line in data["lines"]] == [
        ("COFFEE-1KG", 1),
        ("MUG", 1),
    ]
