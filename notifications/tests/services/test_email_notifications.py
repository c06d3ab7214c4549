"""Customer and shop e-mails: what each event's e-mail says, to whom, and that it goes once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from notifications import services
from notifications.choices import SendStatus
from notifications.models import Notification
from notifications.tests import mail_backends
from orders import services as order_services
from orders.models import Order
from orders.services import Actor
from payments.interface import invoices_for_order
from payments.models import Refund
from payments.services import payment_refund
from testkit.factories import advance, order_for

pytestmark = pytest.mark.django_db

STAFF = Actor(kind="staff", name="ana")
SENDER = "Loja Café Azul <orders@orderflow.localhost>"
TIMES = "\N{MULTIPLICATION SIGN}"


@pytest.fixture
def confirmed(shop, products, run_events):
    """An order placed through the saga and confirmed, with its invoice issued."""
    order = order_for(shop, lines={"COFFEE-1KG": 2}, email="ana@example.com")
    run_events()
    order.refresh_from_db()
    assert order.status == "confirmed"
    return order


def _only_email(to: str):
    messages = [m for m in mail.outbox if m.to == [to]]
    assert len(messages) == 1, [m.subject for m in messages]
    return messages[0]


def _html(message) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


def test_order_confirmed_mails_the_customer_with_the_invoice(confirmed, send_emails):
    send_emails()

    message = _only_email("ana@example.com")
    [invoice] = invoices_for_order(order_id=confirmed.id)
    assert message.subject == f"Order {confirmed.number} is confirmed — invoice {invoice.number}"
    assert message.from_email == SENDER
    assert (
        message.message()["From"] == "=?utf-8?q?Loja_Caf=C3=A9_Azul?= <orders@orderflow.localhost>"
    )
    assert message.reply_to == ["ops@cafe-azul.example"]
    assert "Hello Ana Souza," in message.body
    assert "2 x Coffee beans 1 kg (COFFEE-1KG)  €49.80" in message.body  # CLDR's en format
    assert "Total (taxes included): €49.80" in message.body
    assert f"Your invoice: number {invoice.number}" in message.body
    assert f"http://127.0.0.1:8000/track/{confirmed.tracking_token}" in message.body
    html = _html(message)
    assert f"Invoice <strong>{invoice.number}</strong>" in html
    assert "Loja Café Azul" in html
    notification = Notification.objects.get(event_type="invoice.issued")
    assert (notification.status, notification.recipient, notification.template) == (
        SendStatus.SENT,
        "ana@example.com",
        "invoice.issued/customer",
    )
    assert (notification.subject, notification.body_text) == (message.subject, message.body)


def test_the_tracking_link_starts_with_public_base_url(confirmed, send_emails, settings):
    settings.PUBLIC_BASE_URL = "https://track.cafe-azul.example"

    send_emails()

    message = _only_email("ana@example.com")
    assert f"https://track.cafe-azul.example/track/{confirmed.tracking_token}" in message.body


def test_the_confirmation_is_queued_on_the_invoice_not_on_the_order_confirmed_event(
    shop, products, run_events
):
    # an order confirmed by hand, with no invoice issued: nothing to confirm by e-mail yet
    advance(order_for(shop), to="confirmed")
    run_events()

    assert not Notification.objects.exists()


def test_a_credit_note_sends_no_confirmation(shop, send_emails):
    services.email_notifications_queue_for_event(
        event_type="invoice.issued",
        event_id="0b8e6a4e-1c7e-4a55-9a2b-5d1f6f7c8a90",
        shop_id=shop.pk,
        data={"order_id": "0b8e6a4e-1c7e-4a55-9a2b-5d1f6f7c8a93", "kind": "credit_note"},
    )

    assert not Notification.objects.exists()
    assert send_emails().handled == 0


def test_shipment_dispatched_gives_carrier_tracking_number_and_link(
    confirmed, shop, run_events, send_emails
):
    order_services.order_ship(
        order_id=confirmed.id, shop=shop, actor=STAFF, carrier="DHL", tracking_number="JD0142"
    )
    run_events()
    mail.outbox.clear()
    Notification.objects.filter(event_type="invoice.issued").update(status=SendStatus.SENT)

    send_emails()

    message = _only_email("ana@example.com")
    assert message.subject == f"Order {confirmed.number} is on its way with DHL"
    assert "Carrier: DHL" in message.body
    assert "Tracking number: JD0142" in message.body
    assert f"http://127.0.0.1:8000/track/{confirmed.tracking_token}" in message.body
    assert "<strong>JD0142</strong>" in _html(message)
    assert message.from_email == SENDER


def test_a_first_parcel_says_what_it_holds_and_that_the_rest_follows(
    shop, products, run_events, send_emails
):
    order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1}, email="ana@example.com")
    run_events()
    order_services.shipment_create(
        order_id=order.id,
        shop=shop,
        actor=STAFF,
        carrier="DHL",
        tracking_number="JD0142",
        lines=[order_services.ShipmentLineInput(sku="COFFEE-1KG", quantity=1)],
    )
    run_events()
    Notification.objects.exclude(event_type="shipment.dispatched").update(status=SendStatus.SENT)
    mail.outbox.clear()

    send_emails()

    message = _only_email("ana@example.com")
    coffee = products["COFFEE-1KG"].name
    assert message.subject == f"Order {order.number} is on its way with DHL"
    assert "part of your order" in message.body
    assert "The rest follows in another parcel" in message.body
    assert f"In this parcel:\n  1 {TIMES} {coffee}\n" in message.body
    assert products["MUG"].name not in message.body
    assert f"<li>1 {TIMES} {coffee}</li>" in _html(message)


def test_the_last_parcel_says_the_order_is_on_its_way(shop, products, run_events, send_emails):
    order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1}, email="ana@example.com")
    run_events()
    order_services.shipment_create(
        order_id=order.id,
        shop=shop,
        actor=STAFF,
        carrier="DHL",
        tracking_number="JD0142",
        lines=[order_services.ShipmentLineInput(sku="MUG", quantity=1)],
    )
    order_services.order_ship(
        order_id=order.id, shop=shop, actor=STAFF, carrier="UPS", tracking_number="1Z0143"
    )
    run_events()
    Notification.objects.exclude(event_type="shipment.dispatched").update(status=SendStatus.SENT)
    mail.outbox.clear()

    send_emails()

    last = [m for m in mail.outbox if "UPS" in m.subject]
    assert len(last) == 1
    assert "has left us and is on its way." in last[0].body
    assert "The rest follows" not in last[0].body
    assert f"2 {TIMES} {products['COFFEE-1KG'].name}" in last[0].body


def test_shipment_delivered_tells_the_customer(confirmed, shop, run_events, send_emails):
    order_services.order_ship(
        order_id=confirmed.id, shop=shop, actor=STAFF, carrier="DHL", tracking_number="JD0142"
    )
    order_services.order_deliver(order_id=confirmed.id, shop=shop, actor=STAFF)
    run_events()
    send_emails()

    subjects = [m.subject for m in mail.outbox if m.to == ["ana@example.com"]]
    assert subjects[-1] == f"Order {confirmed.number} was delivered"
    delivered = mail.outbox[-1]
    assert "was delivered. We hope you enjoy it!" in delivered.body


def test_cancelled_by_the_shop_after_payment_says_why_and_that_it_is_refunded(
    confirmed, shop, run_events, send_emails
):
    order_services.order_cancel(
        order_id=confirmed.id, shop=shop, actor=STAFF, reason="The roaster closed for the season"
    )
    run_events()
    send_emails()

    message = next(m for m in mail.outbox if "cancelled" in m.subject)
    assert message.to == ["ana@example.com"]
    assert message.subject == f"Order {confirmed.number} was cancelled"
    assert f"Loja Café Azul cancelled your order {confirmed.number}." in message.body
    assert "The reason given: The roaster closed for the season" in message.body
    assert "The full amount, €49.80, is being refunded to the way you paid." in message.body


def test_cancelled_for_a_failed_payment_says_so_in_plain_words(
    shop, products, run_events, send_emails
):
    order = order_services.order_place(
        shop=shop,
        customer=order_services.CustomerInput(name="Ana Souza", email="ana@example.com"),
        shipping_address={"line1": "Rua A 1", "city": "São Paulo", "country": "BR"},
        lines=[order_services.LineInput(sku="COFFEE-1KG", quantity=1)],
        payment_token="tok_declined",
    )
    run_events()
    send_emails()

    message = _only_email("ana@example.com")
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert message.subject == f"Order {order.number} was cancelled"
    assert f"we could not take the payment for your order {order.number}" in message.body
    assert "Payment failed" not in message.body  # the technical prefix is not shown
    assert "You have not been charged." in message.body


def test_rejected_names_the_short_items(shop, products, run_events, send_emails):
    order = order_for(shop, lines={"MUG": 3, "COFFEE-1KG": 1}, email="bo@example.com")
    run_events()
    send_emails()

    message = _only_email("bo@example.com")
    assert Order.objects.get(pk=order.pk).status == "rejected"
    assert message.subject == f"We could not accept order {order.number}"
    assert "because one item is no longer in stock" in message.body
    assert "  - Blue mug: you asked for 3, only 1 left" in message.body
    assert "Nothing was charged" in message.body
    assert "<li>Blue mug: you asked for 3, only 1 left</li>" in _html(message)


def test_a_reapplied_batch_sends_no_second_email(confirmed, send_emails, reapply_feed):
    send_emails()
    assert len(mail.outbox) == 1

    # the projector applies the same events again, as after a crash before its checkpoint
    projected = reapply_feed()
    send_emails()

    assert projected.emails == 0
    assert len(mail.outbox) == 1
    assert Notification.objects.count() == 1


def test_the_confirmation_is_queued_exactly_once_per_order(
    shop, products, run_events, reapply_feed
):
    orders = [order_for(shop, lines={"COFFEE-1KG": 1}) for _ in range(3)]
    run_events()
    reapply_feed()
    reapply_feed()

    rows = Notification.objects.filter(template="invoice.issued/customer")
    assert sorted(str(r.order_id) for r in rows) == sorted(str(o.id) for o in orders)


def test_a_failing_mail_server_is_retried_then_the_row_fails(confirmed, settings, send_emails):
    settings.EMAIL_BACKEND = f"{mail_backends.PATH}.FailingBackend"
    now = timezone.now()

    assert send_emails(now=now).retried == 1
    notification = Notification.objects.get()
    assert notification.status == SendStatus.QUEUED
    assert notification.next_attempt_at == now + timedelta(seconds=30)
    assert "SMTPServerDisconnected" in notification.last_error
    for _ in range(5):
        notification.refresh_from_db()
        send_emails(now=notification.next_attempt_at)

    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.sent_count) == (
        SendStatus.FAILED,
        6,
        0,
    )

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    services.email_notification_resend(notification=notification)
    send_emails()
    notification.refresh_from_db()
    assert (notification.status, notification.sent_count) == (SendStatus.SENT, 1)
    assert len(mail.outbox) == 1


def test_resend_sends_the_very_same_message_again(confirmed, send_emails):
    send_emails()
    notification = Notification.objects.get()

    services.email_notification_resend(notification=notification)
    send_emails()

    first, second = mail.outbox
    assert (first.subject, first.body, first.to) == (second.subject, second.body, second.to)
    notification.refresh_from_db()
    assert (notification.status, notification.sent_count) == (SendStatus.SENT, 2)


def test_a_shop_without_a_contact_address_fails_the_row_with_a_reason(shop, send_emails):
    shop.contact_email = ""
    shop.save()
    services.email_notifications_queue_for_event(
        event_type="webhook_endpoint.disabled",
        event_id="0b8e6a4e-1c7e-4a55-9a2b-5d1f6f7c8a91",
        shop_id=shop.pk,
        data={
            "endpoint_id": "0b8e6a4e-1c7e-4a55-9a2b-5d1f6f7c8a92",
            "shop_id": shop.pk,
            "url": "https://93.184.215.14/",
            "failing_since": "2026-05-01T10:00:00Z",
            "last_error": "HTTP 500",
        },
    )

    assert send_emails().failed == 1

    notification = Notification.objects.get()
    assert notification.status == SendStatus.FAILED
    assert notification.last_error == (
        "Cannot compose: CannotCompose: There is no e-mail address to send it to."
    )
    assert mail.outbox == []


@pytest.mark.parametrize("orders", [1, 4])
def test_a_batch_of_emails_reads_its_orders_once(
    shop, products, run_events, orders, assert_statements
):
    for _ in range(orders):
        order_for(shop, lines={"COFFEE-1KG": 1})
    run_events()
    assert Notification.objects.filter(status=SendStatus.QUEUED).count() == orders

    with assert_statements(None) as sql:  # sees the prepared outcome statement too
        result = services.email_notifications_send_due()

    assert result.sent == orders
    order_reads = [s for s in sql if 'FROM "orders_order"' in s]
    line_reads = [s for s in sql if 'FROM "orders_orderline"' in s]
    assert (len(order_reads), len(line_reads)) == (1, 1)
    # the claim (one statement), then one UPDATE per e-mail: its outcome and its composed
    # message together
    claims = [s for s in sql if s.startswith("WITH due AS") and "notifications_notification" in s]
    outcomes = [s for s in sql if s.startswith("UPDATE notifications_notification SET")]
    assert (len(claims), len(outcomes)) == (1, orders)
    # the claim, the orders' and their lines' reads, one per e-mail (savepoints aside)
    assert len([s for s in sql if not s.startswith(("SAVEPOINT", "RELEASE"))]) == 3 + orders


def test_a_sent_emails_outcome_and_its_resend_are_recorded(confirmed, send_emails):
    """The prepared outcome statement: sent, counted, the lease and the error cleared."""
    assert send_emails().sent == 1
    notification = Notification.objects.get()
    assert (notification.status, notification.sent_count) == (SendStatus.SENT, 1)
    assert notification.sent_at is not None
    assert (notification.lease_until, notification.next_attempt_at) == (None, None)
    assert notification.last_error == ""
    assert notification.subject.startswith(f"Order {confirmed.number} is confirmed")
    # sent again (a resend): counted again, the composed message kept
    composed = (notification.subject, notification.body_text, notification.body_html)
    services.email_notification_resend(notification=notification, actor="staff:test")
    send_emails()
    again = Notification.objects.get()
    assert (again.status, again.sent_count) == (SendStatus.SENT, 2)
    assert (again.subject, again.body_text, again.body_html) == composed
    assert again.sent_at >= notification.sent_at


def test_a_batch_of_emails_shares_one_connection(shop, products, run_events, settings):
    settings.EMAIL_BACKEND = f"{mail_backends.PATH}.CountingBackend"
    mail_backends.CountingBackend.opened = 0
    for _ in range(3):
        order_for(shop, lines={"COFFEE-1KG": 1})
    run_events()

    assert services.email_notifications_send_due().sent == 3

    assert mail_backends.CountingBackend.opened == 1
    assert len(mail.outbox) == 3
    assert all(n.rendered for n in Notification.objects.all())


def test_a_mail_server_that_refuses_the_batch_retries_each_email(
    shop, products, run_events, settings
):
    settings.EMAIL_BACKEND = f"{mail_backends.PATH}.UnreachableBackend"
    for _ in range(2):
        order_for(shop, lines={"COFFEE-1KG": 1})
    run_events()

    assert services.email_notifications_send_due().retried == 2

    rows = Notification.objects.all()
    assert {n.status for n in rows} == {SendStatus.QUEUED}
    assert all("ConnectionRefusedError" in n.last_error for n in rows)
    # composed once: a later attempt sends the very same message
    assert all(n.rendered for n in rows)


def test_a_refund_the_shop_asks_for_mails_the_customer_once(
    confirmed, shop, run_events, send_emails
):
    payment_refund(
        order_id=confirmed.id, shop_id=shop.pk, amount=Decimal("10.00"), reason="A dented tin"
    )
    run_events()
    send_emails()
    run_events()
    send_emails()

    refunds = [m for m in mail.outbox if m.subject.startswith("A refund")]
    assert len(refunds) == 1, [m.subject for m in mail.outbox]
    (message,) = refunds
    assert message.to == ["ana@example.com"]
    assert message.subject == f"A refund for your order {confirmed.number}"
    assert (
        f"Loja Café Azul is refunding €10.00 of your order {confirmed.number} to the way you paid."
        in message.body
    )
    assert "The reason given: A dented tin" in message.body
    assert "<strong>€10.00</strong>" in _html(message)
    number = Refund.objects.get().credit_note.number
    assert f"Credit note {number} records this refund." in message.body
    assert f"Credit note {number} records this refund." in _html(message)


def test_a_cancellations_refund_is_told_in_the_cancellation_e_mail_only(
    confirmed, shop, run_events, send_emails
):
    order_services.order_cancel(order_id=confirmed.id, shop=shop, actor=STAFF, reason="closed")
    run_events()
    send_emails()

    assert Order.objects.get(pk=confirmed.id).status == "cancelled"
    subjects = [m.subject for m in mail.outbox if m.to == ["ana@example.com"]]
    assert f"Order {confirmed.number} was cancelled" in subjects
    assert not [s for s in subjects if s.startswith("A refund")]
