"""The notification metrics: one webhook attempt or e-mail counted once, by its outcome."""

import pytest
from django.core import mail
from django.utils import timezone

from notifications import emails, services, webhooks
from notifications.choices import AttemptOutcome, SendStatus
from notifications.models import Notification, WebhookDelivery
from notifications.tests import mail_backends
from orderflow.tests.observability import sample
from testkit.factories import order_for

pytestmark = pytest.mark.django_db

OUTCOMES = ("sent", "retry", "failed")


class Deltas:
    """How far each outcome's samples moved since this object was made."""

    def __init__(self, *names: str):
        self.names = names
        self.before = {(n, o): sample(n, outcome=o) for n in names for o in OUTCOMES}

    def __call__(self, name: str) -> dict[str, float]:
        return {o: sample(name, outcome=o) - self.before[(name, o)] for o in OUTCOMES}


WEBHOOKS = "orderflow_webhook_deliveries_total"
WEBHOOK_TIMED = "orderflow_webhook_delivery_duration_seconds_count"
WEBHOOK_SECONDS = "orderflow_webhook_delivery_duration_seconds_sum"
EMAILS = "orderflow_emails_total"


@pytest.fixture
def placed(shop, products, endpoint_at, run_events) -> WebhookDelivery:
    """One endpoint wanting order.placed, and one placed order's delivery queued for it."""
    endpoint = endpoint_at("/hooks", event_types=["order.placed"])
    order_for(shop)
    run_events()
    return WebhookDelivery.objects.get(endpoint=endpoint)


# --- webhooks --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "sent"), (503, "retry"), (429, "retry"), (410, "failed")],
)
def test_a_webhook_attempt_is_counted_and_timed_once_by_its_outcome(
    placed, receiver, send_webhooks, status, outcome
):
    receiver.script = [status]
    deltas = Deltas(WEBHOOKS, WEBHOOK_TIMED, WEBHOOK_SECONDS)

    send_webhooks(now=timezone.now())

    attempt = placed.log.get()
    assert attempt.outcome == outcome
    expected = {o: int(o == outcome) for o in OUTCOMES}
    assert deltas(WEBHOOKS) == expected
    assert deltas(WEBHOOK_TIMED) == expected
    assert deltas(WEBHOOK_SECONDS)[outcome] == pytest.approx(attempt.duration_ms / 1000)


def test_a_retried_webhook_counts_each_attempt_then_the_success(placed, receiver, send_webhooks):
    receiver.script = [503, 500]
    deltas = Deltas(WEBHOOKS)
    now = timezone.now()

    for _ in range(3):
        send_webhooks(now=now)
        placed.refresh_from_db()
        now = placed.next_attempt_at or now

    assert placed.status == SendStatus.SENT
    assert deltas(WEBHOOKS) == {"sent": 1, "retry": 2, "failed": 0}


def test_the_last_attempt_failing_counts_as_failed_not_retry(placed, receiver, send_webhooks):
    WebhookDelivery.objects.filter(pk=placed.pk).update(attempts=webhooks.MAX_ATTEMPTS - 1)
    receiver.script = [503]
    deltas = Deltas(WEBHOOKS)

    send_webhooks(now=timezone.now())

    assert placed.log.get().outcome == AttemptOutcome.FAILED
    assert deltas(WEBHOOKS) == {"sent": 0, "retry": 0, "failed": 1}


def test_an_unreachable_receiver_counts_a_retry(placed, receiver, send_webhooks):
    receiver.stop()
    deltas = Deltas(WEBHOOKS)

    send_webhooks(now=timezone.now())

    assert placed.log.get().status_code is None
    assert deltas(WEBHOOKS) == {"sent": 0, "retry": 1, "failed": 0}


def test_a_skipped_delivery_is_no_attempt(placed, receiver, send_webhooks):
    placed.endpoint.active = False
    placed.endpoint.save()
    deltas = Deltas(WEBHOOKS, WEBHOOK_TIMED)

    send_webhooks(now=timezone.now())

    placed.refresh_from_db()
    assert placed.status == SendStatus.SKIPPED
    assert receiver.received == []
    assert deltas(WEBHOOKS) == deltas(WEBHOOK_TIMED) == dict.fromkeys(OUTCOMES, 0)


# --- e-mails ---------------------------------------------------------------------------------
def _queue_disabled_notice(shop) -> Notification:
    """Queue the shop's "endpoint disabled" e-mail: it needs the shop's contact and no order."""
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
    return Notification.objects.get()


def test_a_sent_email_is_counted_sent(shop, send_emails):
    _queue_disabled_notice(shop)
    deltas = Deltas(EMAILS)

    send_emails()

    assert len(mail.outbox) == 1
    assert deltas(EMAILS) == {"sent": 1, "retry": 0, "failed": 0}


def test_a_failing_mail_server_counts_each_retry_then_one_failure(shop, settings, send_emails):
    settings.EMAIL_BACKEND = f"{mail_backends.PATH}.FailingBackend"
    notification = _queue_disabled_notice(shop)
    deltas = Deltas(EMAILS)

    send_emails(now=timezone.now())
    assert deltas(EMAILS) == {"sent": 0, "retry": 1, "failed": 0}
    for _ in range(emails.MAX_ATTEMPTS - 1):
        notification.refresh_from_db()
        send_emails(now=notification.next_attempt_at)

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (
        SendStatus.FAILED,
        emails.MAX_ATTEMPTS,
    )
    assert deltas(EMAILS) == {"sent": 0, "retry": emails.MAX_ATTEMPTS - 1, "failed": 1}


def test_an_email_that_cannot_be_composed_counts_as_failed(shop, send_emails):
    shop.contact_email = ""
    shop.save()
    _queue_disabled_notice(shop)
    deltas = Deltas(EMAILS)

    send_emails()

    assert Notification.objects.get().status == SendStatus.FAILED
    assert deltas(EMAILS) == {"sent": 0, "retry": 0, "failed": 1}
