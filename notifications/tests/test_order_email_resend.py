"""Staff send one of an order's customer e-mails again from the order page: audited, by role."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse
from django.utils import translation

from notifications import emails, interface, services
from notifications.choices import SendStatus
from notifications.exceptions import EmailBeingSent, EmailNotFound
from notifications.models import EmailResend, Notification
from testkit.factories import order_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def confirmed(shop, products, run_events, send_emails):
    """A confirmed order whose confirmation e-mail was sent once."""
    order = order_for(shop, lines={"COFFEE-1KG": 1}, email="ana@example.com")
    run_events()
    send_emails()
    assert len(mail.outbox) == 1
    return order


def _staff(client, role: str):
    user = get_user_model().objects.create_user(
        username=f"{role}-1", password="a-long-password-42", is_staff=True
    )
    user.groups.set(Group.objects.filter(name=role))
    client.force_login(user)
    return client


def _url(order_id, notification_id) -> str:
    return reverse("emails:email-resend", args=[order_id, notification_id])


def test_resend_sends_the_same_message_again_and_records_who_asked(confirmed, send_emails):
    notification = Notification.objects.get(order_id=confirmed.id)

    services.email_notification_resend_for_order(
        order_id=confirmed.id, notification_id=notification.pk, actor="staff:ana"
    )
    send_emails()

    first, second = mail.outbox
    assert (second.subject, second.body, second.to) == (first.subject, first.body, first.to)
    notification.refresh_from_db()
    assert (notification.status, notification.sent_count) == (SendStatus.SENT, 2)
    [resend] = EmailResend.objects.all()
    assert (resend.notification_id, resend.actor) == (notification.pk, "staff:ana")


def test_another_orders_email_is_not_found_and_nothing_changes(
    confirmed, shop, run_events, send_emails
):
    other = order_for(shop, lines={"COFFEE-1KG": 1}, email="bo@example.com")
    run_events()
    send_emails()
    others_email = Notification.objects.get(order_id=other.id)

    with pytest.raises(EmailNotFound):
        services.email_notification_resend_for_order(
            order_id=confirmed.id, notification_id=others_email.pk, actor="staff:ana"
        )

    others_email.refresh_from_db()
    assert others_email.status == SendStatus.SENT
    assert not EmailResend.objects.exists()


def test_an_email_still_waiting_is_refused(confirmed):
    notification = Notification.objects.get(order_id=confirmed.id)
    Notification.objects.filter(pk=notification.pk).update(status=SendStatus.QUEUED)

    with pytest.raises(EmailBeingSent):
        services.email_notification_resend_for_order(
            order_id=confirmed.id, notification_id=notification.pk, actor="staff:ana"
        )

    assert not EmailResend.objects.exists()


def test_the_interface_lists_the_orders_customer_emails_with_the_last_resend(confirmed):
    notification = Notification.objects.get(order_id=confirmed.id)
    services.email_notification_resend_for_order(
        order_id=confirmed.id, notification_id=notification.pk, actor="staff:ana"
    )

    [email] = interface.order_emails(order_id=confirmed.id)

    assert (email.notification_id, email.name, email.recipient, email.resent_by) == (
        notification.pk,
        "Order confirmation",
        "ana@example.com",
        "staff:ana",
    )
    assert email.waiting  # queued again by the resend
    assert email.subject.startswith(f"Order {confirmed.number} is confirmed")


def test_an_operator_resends_from_the_page_and_sees_a_message(client, confirmed, send_emails):
    staff = _staff(client, "operator")
    notification = Notification.objects.get(order_id=confirmed.id)

    response = staff.post(_url(confirmed.id, notification.pk), follow=True)

    assert response.redirect_chain == [(reverse("tracking:order", args=[confirmed.id]), 302)]
    assert "is being sent again to ana@example.com" in response.content.decode()
    assert EmailResend.objects.get().actor == "staff:operator-1"
    send_emails()
    assert len(mail.outbox) == 2


def test_a_viewer_may_not_resend_and_nothing_changes(client, confirmed):
    staff = _staff(client, "viewer")
    notification = Notification.objects.get(order_id=confirmed.id)

    response = staff.post(_url(confirmed.id, notification.pk))

    assert response.status_code == 403
    notification.refresh_from_db()
    assert notification.status == SendStatus.SENT
    assert not EmailResend.objects.exists()


def test_a_refused_resend_is_a_message_on_the_order_page(client, confirmed):
    staff = _staff(client, "operator")

    response = staff.post(_url(confirmed.id, 999_999), follow=True)

    assert response.status_code == 200
    assert "Not sent again: This order has no such customer e-mail." in response.content.decode()


def test_resend_is_post_only(client, confirmed):
    staff = _staff(client, "operator")
    notification = Notification.objects.get(order_id=confirmed.id)

    assert staff.get(_url(confirmed.id, notification.pk)).status_code == 405
    assert not EmailResend.objects.exists()


@pytest.mark.parametrize("notification_id", [0, 2**31, 2**63, 10**30])
def test_an_id_out_of_any_range_is_a_message_never_an_error(client, confirmed, notification_id):
    staff = _staff(client, "operator")

    response = staff.post(_url(confirmed.id, notification_id), follow=True)

    assert response.status_code == 200
    assert "Not sent again: This order has no such customer e-mail." in response.content.decode()


def test_every_customer_email_has_a_name_staff_read_in_their_language():
    """The order page lists customer e-mails by name: a trigger without one would show its
    raw template (``order.remainder_cancelled/customer``), and in every language."""
    customer = {t.template for t in emails.TRIGGERS if t.audience == emails.CUSTOMER}

    assert customer - set(interface.EMAIL_NAMES) == set()
    for template in customer:
        name = interface.EMAIL_NAMES[template]
        with translation.override("en"):
            english = str(name)
        with translation.override("pt-br"):
            portuguese = str(name)
        assert portuguese != english, template
