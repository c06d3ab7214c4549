"""Customer e-mails go out in the order's language (pt-BR or English), money and dates with it."""

from decimal import Decimal

import pytest
from django.core import mail

from notifications.choices import SendStatus
from notifications.models import Notification
from orders import services as order_services
from orders.models import Order
from orders.services import Actor
from payments.models import Refund
from payments.services import payment_refund
from testkit.factories import order_for

pytestmark = pytest.mark.django_db

STAFF = Actor(kind="staff", name="ana")


@pytest.fixture
def confirmed_in(shop, products, run_events):
    """An order in ``locale``, placed through the saga and confirmed, its invoice issued."""

    def make(locale: str) -> Order:
        order = order_for(shop, lines={"COFFEE-1KG": 2}, email="ana@example.com")
        # the e-mails are written when first sent, from the order as it is then
        Order.objects.filter(pk=order.pk).update(customer_locale=locale)
        run_events()
        order.refresh_from_db()
        assert order.status == "confirmed"
        return order

    return make


def _sent(subject_part: str):
    [message] = [m for m in mail.outbox if subject_part in m.subject]
    [(html, _mimetype)] = message.alternatives
    return message, html


def test_the_confirmation_in_portuguese_formats_money_and_dates_for_brazil(
    confirmed_in, send_emails
):
    order = confirmed_in("pt-BR")

    send_emails()

    message, html = _sent(order.number)
    assert message.subject.startswith(f"Pedido {order.number} confirmado — nota fiscal ")
    assert message.body.startswith("Olá, Ana Souza,\n\nobrigado pela sua compra na loja ")
    assert "2 x Coffee beans 1 kg (COFFEE-1KG)  €\xa049,80" in message.body
    assert "Total (impostos incluídos): €\xa049,80" in message.body
    assert " de 20" in message.body  # "emitida em 4 de dezembro de 2026"
    assert "Acompanhe seu pedido a qualquer momento:" in message.body
    assert '<html lang="pt-BR">' in html
    assert "Acompanhar seu pedido" in html
    for english in ("Hello", "thank you", "Total (taxes included)", "Follow your order"):
        assert english not in message.body + html


def test_the_confirmation_in_english_stays_english(confirmed_in, send_emails):
    order = confirmed_in("en")

    send_emails()

    message, html = _sent(order.number)
    assert message.subject.startswith(f"Order {order.number} is confirmed — invoice ")
    assert "Total (taxes included): €49.80" in message.body
    assert '<html lang="en">' in html


def test_an_order_without_a_language_is_written_in_the_default_one(
    confirmed_in, send_emails, settings
):
    order = confirmed_in("")

    send_emails()

    message, _html = _sent(order.number)
    assert settings.LANGUAGE_CODE == "en"
    assert message.subject.startswith(f"Order {order.number} is confirmed")


def test_dispatched_delivered_and_cancelled_in_portuguese(
    confirmed_in, shop, run_events, send_emails
):
    shipped = confirmed_in("pt-BR")
    cancelled = confirmed_in("pt-BR")
    order_services.order_ship(
        order_id=shipped.id, shop=shop, actor=STAFF, carrier="DHL", tracking_number="BR1"
    )
    order_services.order_deliver(order_id=shipped.id, shop=shop, actor=STAFF)
    order_services.order_cancel(
        order_id=cancelled.id, shop=shop, actor=STAFF, reason="A torrefação fechou"
    )
    run_events()
    Notification.objects.filter(event_type="invoice.issued").update(status=SendStatus.SENT)

    send_emails()

    dispatched, _ = _sent(f"Pedido {shipped.number} a caminho com DHL")
    assert "Transportadora: DHL" in dispatched.body
    assert "Código de rastreio: BR1" in dispatched.body
    delivered, _ = _sent(f"Pedido {shipped.number} entregue")
    assert "foi entregue. Esperamos que você goste!" in delivered.body
    message, html = _sent(f"Pedido {cancelled.number} cancelado")
    assert f"A loja Loja Café Azul cancelou seu pedido {cancelled.number}." in message.body
    assert "Motivo informado: A torrefação fechou" in message.body
    assert "O valor total, €\xa049,80, está sendo devolvido" in message.body
    assert "<strong>€\xa049,80</strong>" in html


def test_a_rejection_in_portuguese_names_the_short_items(shop, products, run_events, send_emails):
    products["COFFEE-1KG"].on_hand = 1
    products["COFFEE-1KG"].save(update_fields=["on_hand"])
    order = order_for(shop, lines={"COFFEE-1KG": 3}, email="ana@example.com")
    Order.objects.filter(pk=order.pk).update(customer_locale="pt-BR")
    run_events()

    send_emails()

    message, _html = _sent(f"Não foi possível aceitar o pedido {order.number}")
    assert "porque um item não está mais em estoque:" in message.body
    assert "Coffee beans 1 kg: você pediu 3, restam só 1" in message.body
    assert "Nada foi cobrado e o pedido não será enviado." in message.body


def test_a_resend_is_the_same_e_mail_in_the_same_language(confirmed_in, send_emails):
    order = confirmed_in("pt-BR")
    send_emails()
    notification = Notification.objects.get(event_type="invoice.issued", order_id=order.id)
    first = (notification.subject, notification.body_text)
    # the customer's language changes afterwards: what was written stays as written
    Order.objects.filter(pk=order.pk).update(customer_locale="en")

    notification.refresh_from_db()

    assert (notification.subject, notification.body_text) == first
    assert notification.subject.startswith("Pedido ")


def test_a_refund_in_portuguese(confirmed_in, shop, run_events, send_emails):
    order = confirmed_in("pt-BR")
    Notification.objects.filter(event_type="invoice.issued").update(status=SendStatus.SENT)
    payment_refund(order_id=order.id, shop_id=shop.pk, amount=Decimal("10.00"))
    run_events()

    send_emails()

    message, html = _sent(f"Um reembolso do seu pedido {order.number}")
    assert (
        f"A loja Loja Café Azul está devolvendo €\xa010,00 do seu pedido {order.number} pelo "
        "mesmo meio de pagamento." in message.body
    )
    assert "Motivo informado" not in message.body
    assert "<strong>€\xa010,00</strong>" in html
    number = Refund.objects.get().credit_note.number
    assert f"A nota de crédito {number} registra este reembolso." in message.body
