"""The local mailbox (embedded mode's e-mail backend) and the Outbox page that reads it."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.core.mail import EmailMultiAlternatives, get_connection

from notifications import mailbox
from notifications.services.emails import tracking_url

pytestmark = pytest.mark.django_db

BACKEND = "notifications.mailbox.MailboxBackend"


@pytest.fixture
def local_mailbox(settings, tmp_path):
    settings.LOCAL_MAILBOX = True
    settings.EMAIL_BACKEND = BACKEND
    settings.MAILBOX_PATH = str(tmp_path / "mailbox")
    settings.MAILBOX_KEEP = 1000
    return tmp_path / "mailbox"


def _send(subject: str, *, to: str = "ana@example.com", html: str = "<p>Hello <b>Ana</b></p>"):
    message = EmailMultiAlternatives(
        subject=subject,
        body=f"Hello Ana,\n{subject}\n",
        from_email='"Loja Café Azul" <orders@orderflow.localhost>',
        to=[to],
        reply_to=["ops@cafe-azul.example"],
        connection=get_connection(BACKEND),
    )
    message.attach_alternative(html, "text/html")
    message.send(fail_silently=False)


def _staff(username: str, *roles: str):
    user = get_user_model().objects.create_user(
        username=username, password="a-long-password-42", is_staff=True
    )
    user.groups.set(Group.objects.filter(name__in=roles))
    return user


def test_embedded_mode_keeps_each_email_as_one_file_with_both_parts(local_mailbox):
    _send("Order OF-1 is confirmed")

    (path,) = local_mailbox.iterdir()
    assert path.suffix == ".eml"
    (message,) = mailbox.mailbox_list(limit=10)
    assert (message.subject, message.to, message.reply_to) == (
        "Order OF-1 is confirmed",
        "ana@example.com",
        "ops@cafe-azul.example",
    )
    assert message.from_email == "Loja Café Azul <orders@orderflow.localhost>"
    assert message.text == "Hello Ana,\nOrder OF-1 is confirmed\n"
    assert message.html == "<p>Hello <b>Ana</b></p>"
    assert mailbox.mailbox_get(message.name) == message


def test_the_mailbox_keeps_only_the_newest_messages(local_mailbox, settings):
    settings.MAILBOX_KEEP = 2
    for n in range(4):
        _send(f"Message {n}")

    assert [m.subject for m in mailbox.mailbox_list(limit=10)] == ["Message 3", "Message 2"]
    assert mailbox.mailbox_count() == 2


@pytest.mark.parametrize("name", ["../../etc/passwd", "1733300000000000000-zzzzzzzz", "x"])
def test_a_name_that_is_not_a_messages_is_none(local_mailbox, name):
    _send("Kept")

    assert mailbox.mailbox_get(name) is None


@pytest.mark.parametrize("role", ["viewer", "operator", "supervisor"])
def test_staff_who_may_see_the_staff_pages_read_the_outbox(client, local_mailbox, role):
    _send("Your order OF-7 is on its way", to="bruno@example.com")
    (message,) = mailbox.mailbox_list(limit=1)
    client.force_login(_staff(f"staff-{role}", role))

    listing = client.get("/staff/outbox/")
    page = client.get(f"/staff/outbox/{message.name}")
    html = client.get(f"/staff/outbox/{message.name}/html")

    assert listing.status_code == 200
    assert "Your order OF-7 is on its way" in listing.content.decode()
    assert "bruno@example.com" in listing.content.decode()
    assert f'href="/staff/outbox/{message.name}"' in listing.content.decode()
    assert page.status_code == 200
    text = page.content.decode()
    assert "Hello Ana," in text
    assert "ops@cafe-azul.example" in text
    assert f'src="/staff/outbox/{message.name}/html"' in text
    assert html.status_code == 200
    assert html.content == b"<p>Hello <b>Ana</b></p>"
    assert html["Content-Security-Policy"].startswith("sandbox;")
    assert html["X-Frame-Options"] == "SAMEORIGIN"


def test_staff_without_a_role_get_403_and_visitors_the_login(client, local_mailbox):
    _send("Secret-ish")
    (message,) = mailbox.mailbox_list(limit=1)

    anonymous = [client.get(p) for p in ("/staff/outbox/", f"/staff/outbox/{message.name}")]
    client.force_login(_staff("nobody"))
    refused = [
        client.get(p)
        for p in (
            "/staff/outbox/",
            f"/staff/outbox/{message.name}",
            f"/staff/outbox/{message.name}/html",
        )
    ]

    assert [r.status_code for r in anonymous] == [302, 302]
    assert all("/admin/login/" in r["Location"] for r in anonymous)
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert all(b"Secret-ish" not in r.content for r in refused)


def test_an_email_no_longer_kept_is_a_404(client, local_mailbox):
    client.force_login(_staff("vera", "viewer"))

    assert client.get("/staff/outbox/1733300000000000000-0000abcd").status_code == 404
    assert client.get("/staff/outbox/..%2F..%2Fsettings.py").status_code == 404


def test_with_another_backend_the_outbox_says_where_email_goes(client, settings):
    settings.LOCAL_MAILBOX = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    client.force_login(_staff("vera", "viewer"))

    response = client.get("/staff/outbox/")

    assert response.status_code == 200
    assert "django.core.mail.backends.smtp.EmailBackend" in response.content.decode()
    assert "EMAIL_URL=mailbox://" in response.content.decode()


def test_the_nav_links_the_outbox_and_the_webhook_inbox_for_staff_pages(client, local_mailbox):
    client.force_login(_staff("vera", "viewer"))

    text = client.get("/staff/outbox/").content.decode()

    assert 'href="/staff/outbox/" aria-current="page">Outbox</a>' in text
    assert 'href="/staff/webhook-inbox/">Webhook inbox</a>' in text


def test_email_links_start_with_the_served_address(settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8041"

    assert tracking_url("tok") == "http://127.0.0.1:8041/track/tok"
    assert mail.outbox == []
