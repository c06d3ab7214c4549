"""A return's e-mails to the customer: asked for, approved, rejected and refunded, in the
order's language."""

from decimal import Decimal

import pytest
from django.core import mail

from notifications.choices import SendStatus
from notifications.interface import order_emails
from notifications.models import Notification, WebhookDelivery, WebhookEndpoint
from notifications.services import email_notification_resend_for_order
from orders import services as order_services
from orders.models import Order
from orders.services import returns
from payments.choices import InvoiceKind
from payments.models import Invoice
from payments.services.refunding import payment_refund
from testkit.factories import order_for

pytestmark = pytest.mark.django_db

STAFF = order_services.Actor(kind="staff", name="ana")


@pytest.fixture
def delivered_in(shop, products, run_events):
    """A paid order of 2 x COFFEE-1KG and 1 x MUG in ``locale``, delivered, its e-mails so far
    sent (marked so, to read only the return's below)."""

    def make(locale: str) -> Order:
        order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1}, email="ana@example.com")
        Order.objects.filter(pk=order.pk).update(customer_locale=locale)
        run_events()
        order_services.order_ship(
            order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number="JD0001"
        )
        order_services.order_deliver(order_id=order.pk, shop=None, actor=STAFF)
        run_events()
        Notification.objects.update(status=SendStatus.SENT)
        return Order.objects.get(pk=order.pk)

    return make


def _request(order, reason="The mug arrived chipped."):
    return returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("MUG", 1)],
        reason=reason,
        actor=STAFF,
    )


def _sent(subject_part: str):
    [message] = [m for m in mail.outbox if subject_part in m.subject]
    [(html, _mimetype)] = message.alternatives
    return message, html


def test_the_request_and_the_approval_in_english(delivered_in, run_events, send_emails):
    order = delivered_in("en")
    order_return = _request(order)
    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    run_events()

    send_emails()

    requested, requested_html = _sent("We received your return request")
    approved, _ = _sent("is approved")
    assert requested.subject == f"We received your return request for order {order.number}"
    assert requested.to == ["ana@example.com"]
    assert (
        f"Loja Café Azul received your request to return these items of order {order.number}:"
        "\n\n1 x Blue mug (MUG)" in requested.body
    )
    assert "The reason given: The mug arrived chipped." in requested.body
    assert "Please do not send anything yet" in requested.body
    assert "<li>1 x Blue mug (MUG)</li>" in requested_html
    assert approved.subject == f"Your return for order {order.number} is approved"
    assert "Please send them back to Loja Café Azul." in approved.body


def test_the_rejection_in_portuguese_says_why(delivered_in, run_events, send_emails):
    order = delivered_in("pt-BR")
    order_return = _request(order, reason="Quebrou.")
    run_events()
    Notification.objects.update(status=SendStatus.SENT)
    returns.return_reject(return_id=order_return.pk, actor=STAFF, reason="Item usado.")
    run_events()

    send_emails()

    message, html = _sent("não foi aceita")
    assert message.subject == f"Sua devolução do pedido {order.number} não foi aceita"
    assert message.body.startswith("Olá, Ana Souza,")
    assert (
        "A loja Loja Café Azul não pôde aceitar a devolução destes itens do pedido "
        f"{order.number}:" in message.body
    )
    assert "Motivo informado: Item usado." in message.body
    assert "Por favor, não envie os itens de volta." in message.body
    assert '<html lang="pt-BR">' in html
    for english in ("Hello", "could not accept", "The reason given"):
        assert english not in message.body + html


def test_the_request_in_portuguese(delivered_in, run_events, send_emails):
    order = delivered_in("pt-BR")
    _request(order)
    run_events()

    send_emails()

    message, _ = _sent("Recebemos seu pedido de devolução")
    assert "1 x Blue mug (MUG)" in message.body
    assert "Por favor, não envie nada ainda" in message.body


def _received(order):
    order_return = _request(order)
    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    returns.return_receive(return_id=order_return.pk, actor=STAFF, restock=False)
    return order_return


def test_a_returns_refund_is_one_e_mail_naming_the_amount_lines_and_credit_note(
    delivered_in, run_events, send_emails
):
    order = delivered_in("en")
    order_return = _received(order)
    run_events()
    Notification.objects.update(status=SendStatus.SENT)
    returns.return_refund(return_id=order_return.pk, actor=STAFF)
    run_events()

    send_emails()

    [message] = mail.outbox
    [(html, _mimetype)] = message.alternatives
    credit_note = Invoice.objects.get(kind=InvoiceKind.CREDIT_NOTE, refund__isnull=False)
    assert message.subject == f"Your return for order {order.number} is refunded"
    assert message.to == ["ana@example.com"]
    assert (
        f"Loja Café Azul has the items you sent back from order {order.number} and is "
        "refunding €9.90 to the way you paid." in message.body
    )
    assert "The items you returned:\n1 x Blue mug (MUG)" in message.body
    assert f"Credit note {credit_note.number} records this refund." in message.body
    assert "<li>1 x Blue mug (MUG)</li>" in html
    # the refund's own e-mail is not sent as well: one ledger row, the return's
    rows = Notification.objects.filter(order_id=order.pk, created_at__gte=order_return.requested_at)
    templates = sorted(rows.values_list("template", flat=True))
    assert "payment.refunded/customer" not in templates
    assert templates.count("return.refunded/customer") == 1


def test_a_returns_refund_in_portuguese(delivered_in, run_events, send_emails):
    order = delivered_in("pt-BR")
    order_return = _received(order)
    run_events()
    Notification.objects.update(status=SendStatus.SENT)
    returns.return_refund(return_id=order_return.pk, actor=STAFF, amount=Decimal("5.00"))
    run_events()

    send_emails()

    [message] = mail.outbox
    [(html, _mimetype)] = message.alternatives
    assert message.subject == f"A devolução do pedido {order.number} foi reembolsada"
    assert (
        f"A loja Loja Café Azul recebeu os itens que você devolveu do pedido {order.number} "
        "e está reembolsando €\xa05,00 na forma de pagamento que você usou." in message.body
    )
    assert "Itens devolvidos:\n1 x Blue mug (MUG)" in message.body
    assert "A nota de crédito 2026-" in message.body
    assert '<html lang="pt-BR">' in html
    for english in ("Hello", "refunding", "returned", "Credit note", "reply to"):
        assert english not in message.body + html


def test_a_refund_of_the_order_itself_still_gets_the_refund_e_mail(
    delivered_in, run_events, send_emails
):
    order = delivered_in("en")
    _received(order)  # a return received, not refunded: the shop refunds something else
    run_events()
    Notification.objects.update(status=SendStatus.SENT)
    payment_refund(
        order_id=order.pk, shop_id=None, amount=Decimal("1.00"), lines=[], reason="Late."
    )
    run_events()

    send_emails()

    [message] = mail.outbox
    assert message.subject == f"A refund for your order {order.number}"


def test_the_staff_order_page_lists_the_returns_refund_e_mail_to_resend(
    delivered_in, run_events, send_emails
):
    order = delivered_in("en")
    order_return = _received(order)
    returns.return_refund(return_id=order_return.pk, actor=STAFF)
    run_events()
    send_emails()

    listed = {str(email.name): email for email in order_emails(order_id=order.pk)}

    assert listed["Return refunded"].subject == f"Your return for order {order.number} is refunded"
    email_notification_resend_for_order(
        order_id=order.pk, notification_id=listed["Return refunded"].notification_id, actor="ana"
    )
    send_emails()
    assert [m.subject for m in mail.outbox].count(
        f"Your return for order {order.number} is refunded"
    ) == 2


def test_the_return_events_go_to_the_shops_webhooks(delivered_in, shop, run_events):
    order = delivered_in("en")
    endpoint = WebhookEndpoint.objects.create(
        shop_id=shop.pk,
        url="https://hooks.example.com/orderflow",
        secret="whsec_" + "a" * 32,
        event_types=["return.requested", "return.rejected"],
    )
    order_return = _request(order)
    returns.return_reject(return_id=order_return.pk, actor=STAFF, reason="Used.")
    run_events()

    deliveries = {d.event_type: d for d in WebhookDelivery.objects.filter(endpoint=endpoint)}
    assert sorted(deliveries) == ["return.rejected", "return.requested"]
    rejected = deliveries["return.rejected"].payload
    assert (rejected["aggregate_id"], rejected["data"]["reason"]) == (str(order.pk), "Used.")
    assert rejected["data"]["return_id"] == str(order_return.pk)
