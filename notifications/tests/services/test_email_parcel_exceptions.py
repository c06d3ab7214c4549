"""A parcel's bad news e-mails the customer: a failed attempt, held, going back (#16).

Each carrier report that makes one of these events is one e-mail, in the order's language,
naming the parcel (carrier, tracking number, contents, where, the carrier's note), with
the tracking link and what the customer should do; a re-applied batch sends none again.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse

from notifications.choices import SendStatus
from notifications.interface import order_emails
from notifications.models import Notification
from orders import services as order_services
from orders.models import Order
from orders.services import Actor
from testkit.factories import order_for

pytestmark = pytest.mark.django_db

STAFF = Actor(kind="staff", name="ana")
TIMES = "\N{MULTIPLICATION SIGN}"


@pytest.fixture
def shipped_in(shop, products, run_events):
    """An order of 2 x COFFEE-1KG and 1 x MUG in ``locale``, the mug in parcel JD0001 and the
    coffee in JD0002; the e-mails so far marked sent, so only the carrier's news is read."""

    def make(locale: str) -> Order:
        order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1}, email="ana@example.com")
        Order.objects.filter(pk=order.pk).update(customer_locale=locale)
        run_events()
        order_services.shipment_create(
            order_id=order.pk,
            shop=None,
            actor=STAFF,
            carrier="DHL",
            tracking_number="JD0001",
            lines=[order_services.ShipmentLineInput(sku="MUG", quantity=1)],
        )
        order_services.order_ship(
            order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number="JD0002"
        )
        run_events()
        Notification.objects.update(status=SendStatus.SENT)
        mail.outbox.clear()
        return Order.objects.get(pk=order.pk)

    return make


def _report(number: str, status: str, event_id: str, **extra) -> None:
    order_services.shipment_report(
        carrier="DHL", event_id=event_id, tracking_number=number, status=status, **extra
    )


def _html(message) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


def test_a_failed_attempt_names_the_parcel_and_says_what_to_do(
    shipped_in, run_events, send_emails, settings
):
    settings.PUBLIC_BASE_URL = "https://track.example"
    order = shipped_in("en")
    _report("JD0001", "delivery_failed", "e1", location="Porto Alegre", note="Nobody home")
    run_events()

    send_emails()

    [message] = mail.outbox
    assert message.to == ["ana@example.com"]
    assert message.subject == f"We could not deliver your parcel of order {order.number}"
    body = message.body
    assert (
        f"DHL tried to deliver your parcel of order {order.number} from Loja Café Azul, "
        "but could not." in body
    )
    assert "What to do: the carrier will try again on its next round" in body
    assert f"1 {TIMES} Blue mug" in body
    assert "Coffee" not in body  # the other parcel's contents
    assert "  Tracking number: JD0001\n" in body
    assert "  Where: Porto Alegre\n" in body
    assert "  The carrier's note: Nobody home\n" in body
    link = f"https://track.example/track/{order.tracking_token}"
    assert f"Follow your parcel: {link}" in body
    assert f'href="{link}"' in _html(message)
    assert "<strong>JD0001</strong>" in _html(message)
    [row] = Notification.objects.filter(event_type="shipment.delivery_failed")
    assert (row.template, row.status) == ("shipment.delivery_failed/customer", SendStatus.SENT)


def test_held_in_portuguese_says_where_to_collect_it(shipped_in, run_events, send_emails):
    order = shipped_in("pt-BR")
    _report("JD0002", "held", "e1", location="Agência Centro", note="Aguardando retirada")
    run_events()

    send_emails()

    [message] = mail.outbox
    assert (
        message.subject == f"A transportadora DHL está retendo seu pacote do pedido {order.number}"
    )
    body = message.body
    assert body.startswith("Olá, Ana Souza,")
    assert "O que fazer: retire o pacote onde a transportadora o guarda" in body
    assert f"2 {TIMES} Coffee beans 1 kg" in body
    assert "  Código de rastreio: JD0002\n" in body
    assert "  Onde: Agência Centro\n" in body
    assert "  Observação da transportadora: Aguardando retirada\n" in body
    assert '<html lang="pt-BR">' in _html(message)
    for english in ("Hello", "What to do", "Tracking number", "holding"):
        assert english not in body + _html(message)


def test_returned_to_sender_says_the_shop_will_get_in_touch(shipped_in, run_events, send_emails):
    order = shipped_in("en")
    _report("JD0001", "returned_to_sender", "e1")
    run_events()

    send_emails()

    [message] = mail.outbox
    assert message.subject == f"Your parcel of order {order.number} is going back to Loja Café Azul"
    assert "What to do: nothing for now. Loja Café Azul will contact you about a refund" in (
        message.body
    )
    assert "Where:" not in message.body  # the carrier said nowhere
    assert message.reply_to == ["ops@cafe-azul.example"]


def test_one_e_mail_per_parcel_event_and_none_again_on_a_reapplied_batch(
    shipped_in, run_events, send_emails, reapply_feed
):
    shipped_in("en")
    _report("JD0001", "delivery_failed", "e1")
    _report("JD0001", "delivery_failed", "e1")  # the carrier's same report again
    _report("JD0001", "delivery_failed", "e2")  # its second attempt
    _report("JD0002", "held", "e3")
    run_events()
    send_emails()

    projected = reapply_feed()
    send_emails()

    assert projected.emails == 0
    assert sorted(m.subject.split(" ")[0] for m in mail.outbox) == ["DHL", "We", "We"]
    assert Notification.objects.filter(event_type="shipment.delivery_failed").count() == 2


def test_staff_see_them_by_name_and_may_send_them_again(
    client, shipped_in, run_events, send_emails
):
    order = shipped_in("en")
    for number, status in (
        ("JD0001", "delivery_failed"),
        ("JD0001", "held"),
        ("JD0001", "returned_to_sender"),
    ):
        _report(number, status, f"{number}-{status}")
    run_events()
    send_emails()
    held = Notification.objects.get(event_type="shipment.held")
    user = get_user_model().objects.create_user(
        username="operator-1", password="a-long-password-42", is_staff=True
    )
    user.groups.set(Group.objects.filter(name="operator"))
    client.force_login(user)
    resend_url = reverse("emails:email-resend", args=[order.pk, held.pk])

    names = [str(email.name) for email in order_emails(order_id=order.pk)][-3:]
    page = client.get(
        reverse("tracking:order", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="pt-BR"
    ).content.decode()
    client.post(resend_url)
    send_emails()

    assert names == [
        "Delivery attempt failed",
        "Parcel held by the carrier",
        "Parcel going back to the shop",
    ]
    for name in (
        "Tentativa de entrega sem sucesso",
        "Pacote retido pela transportadora",
        "Pacote voltando para a loja",
    ):
        assert f"<strong>{name}</strong>" in page
    assert f'action="{resend_url}"' in page
    subject = f"DHL is holding your parcel of order {order.number}"
    first, again = [m for m in mail.outbox if m.subject == subject]
    assert (again.body, again.to) == (first.body, first.to)
    assert len(mail.outbox) == 4
