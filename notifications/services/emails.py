"""The e-mail ledger: queue once per (event, channel, template), compose, send, retry, resend.

Queuing runs in the kernel's delivery of the event, so the ledger row commits with the
inbox entry, and its unique key makes a redelivered event queue nothing. Sending runs in
a Celery task kicked on commit, like webhooks. The message is composed at its first send
(the confirmation waits there for the invoice) and kept, so a resend is the same e-mail.
"""

import smtplib
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models import F
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from orderflow import metrics, tracing
from orders.interface import OrderNotice, order_notice, shop_contact
from payments.interface import invoices_for_order

from .. import emails
from ..choices import AttemptOutcome, Channel, SendStatus
from ..models import Notification
from .dispatch import EMAIL_TASK, SendResult, claim_due, due, kick_after_commit

BATCH_SIZE = 20
LEASE = timedelta(seconds=BATCH_SIZE * (settings.EMAIL_TIMEOUT + 1) + 30)
DRAIN_SECONDS = 10.0
#: the confirmation waits this long for its invoice (issued on the same event), then goes alone
INVOICE_WAIT = timedelta(minutes=10)
INVOICE_POLL = timedelta(seconds=3)


class NotReady(Exception):
    """What the e-mail must say is not there yet; try again after ``retry_in``."""

    def __init__(self, reason: str, retry_in: timedelta):
        super().__init__(reason)
        self.retry_in = retry_in


class CannotCompose(Exception):
    """The e-mail cannot be written (no recipient): the ledger row fails for good."""


#: failures of composing that no retry will fix
COMPOSE_ERRORS = (
    CannotCompose,
    ObjectDoesNotExist,
    TemplateDoesNotExist,
    TemplateSyntaxError,
)
#: failures of sending that may pass (the mail server is down, busy or slow)
SEND_ERRORS = (smtplib.SMTPException, OSError)


def email_notifications_queue_for_event(
    *, event_type: str, event_id: str | UUID, shop_id: int, data: dict[str, Any]
) -> int:
    """Queue the event's e-mails (see ``emails.TRIGGERS``); return how many triggers it has."""
    triggers = emails.triggers_for(event_type)
    if not triggers:
        return 0
    now = timezone.now()
    trace_context = tracing.current_trace_context()
    Notification.objects.bulk_create(
        [
            Notification(
                event_id=event_id,
                event_type=event_type,
                channel=Channel.EMAIL,
                template=trigger.template,
                shop_id=shop_id,
                order_id=data.get("order_id"),
                data=data,
                next_attempt_at=now,
                trace_context=trace_context,
            )
            for trigger in triggers
        ],
        ignore_conflicts=True,
    )
    kick_after_commit(EMAIL_TASK)
    return len(triggers)


def email_notifications_send_due(
    *, now: datetime | None = None, limit: int = BATCH_SIZE
) -> SendResult:
    """Claim one batch of due e-mails and try each once."""
    result = SendResult()
    for notification in claim_due(
        Notification.objects.all(), now=now or timezone.now(), limit=limit, lease=LEASE
    ):
        outcome = _send(notification, now=now or timezone.now())
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def email_notifications_drain(*, max_seconds: float = DRAIN_SECONDS) -> SendResult:
    deadline = time.monotonic() + max_seconds
    total = SendResult()
    while True:
        batch = email_notifications_send_due()
        total += batch
        if batch.handled == 0 or time.monotonic() > deadline:
            return total


def email_notifications_due_exist(now: datetime | None = None) -> bool:
    return Notification.objects.filter(due(now or timezone.now())).exists()


@transaction.atomic
def email_notification_resend(*, notification: Notification) -> Notification:
    """Send the same e-mail again (by hand: redelivered events never do this)."""
    Notification.objects.filter(pk=notification.pk).exclude(
        status__in=[SendStatus.QUEUED, SendStatus.SENDING]
    ).update(status=SendStatus.QUEUED, attempts=0, next_attempt_at=timezone.now(), last_error="")
    kick_after_commit(EMAIL_TASK)
    notification.refresh_from_db()
    return notification


# --- one attempt ---
def _send(notification: Notification, *, now: datetime) -> str:
    """Compose (first time only) and send; return the SendResult field to count it in."""
    rows = Notification.objects.filter(pk=notification.pk)
    if notification.attempts > emails.MAX_ATTEMPTS:
        return _fail(rows, "No attempt finished.")
    if not notification.rendered:
        try:
            _compose(notification, now=now)
        except NotReady as wait:
            rows.update(
                status=SendStatus.QUEUED,
                attempts=F("attempts") - 1,
                lease_until=None,
                next_attempt_at=now + wait.retry_in,
                last_error=str(wait),
            )
            return "postponed"
        except COMPOSE_ERRORS as error:
            return _fail(rows, f"Cannot compose: {type(error).__name__}: {error}")
        notification.save(
            update_fields=[
                "recipient",
                "from_email",
                "reply_to",
                "subject",
                "body_text",
                "body_html",
            ]
        )
    try:
        with tracing.client_span(
            "email send",
            trace_context=notification.trace_context,
            attributes={
                "orderflow.notification.id": notification.pk,
                "orderflow.notification.template": notification.template,
                "orderflow.attempt": notification.attempts,
            },
        ):
            emails.send(
                email=emails.RenderedEmail(
                    notification.subject, notification.body_text, notification.body_html
                ),
                from_email=notification.from_email,
                to=notification.recipient,
                reply_to=notification.reply_to,
            )
    except SEND_ERRORS as error:
        message = f"{type(error).__name__}: {error}"[:2000]
        if notification.attempts >= emails.MAX_ATTEMPTS:
            return _fail(rows, message)
        rows.update(
            status=SendStatus.QUEUED,
            lease_until=None,
            next_attempt_at=now + emails.RETRY_DELAYS[notification.attempts - 1],
            last_error=message,
        )
        metrics.record_email(outcome=AttemptOutcome.RETRY)
        return "retried"
    rows.update(
        status=SendStatus.SENT,
        sent_at=now,
        sent_count=F("sent_count") + 1,
        lease_until=None,
        next_attempt_at=None,
        last_error="",
    )
    metrics.record_email(outcome=AttemptOutcome.SENT)
    return "sent"


def _fail(rows, message: str) -> str:
    """Fail the row for good (a send, or composing it, that no retry will fix)."""
    rows.update(
        status=SendStatus.FAILED, lease_until=None, next_attempt_at=None, last_error=message
    )
    metrics.record_email(outcome=AttemptOutcome.FAILED)
    return "failed"


def _compose(notification: Notification, *, now: datetime) -> None:
    """Fill in recipient, sender and the rendered message from the event and current data."""
    composer = COMPOSERS[notification.template]
    recipient, sender_name, reply_to, context = composer(notification, now)
    if not recipient:
        raise CannotCompose("There is no e-mail address to send it to.")
    rendered = emails.render(notification.template, context)
    notification.recipient = recipient
    notification.from_email = emails.sender(sender_name)
    notification.reply_to = reply_to
    notification.subject = rendered.subject[:300]
    notification.body_text = rendered.text
    notification.body_html = rendered.html


# --- what each e-mail says ---
Composed = tuple[str, str, str, dict[str, Any]]  # recipient, sender name, reply-to, context


#: e-mail links must be absolute; PUBLIC_BASE_URL (the tracking settings) names the site
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8000"


def public_url(path: str) -> str:
    base = getattr(settings, "PUBLIC_BASE_URL", "") or DEFAULT_PUBLIC_BASE_URL
    return base.rstrip("/") + path


def tracking_url(token: str) -> str:
    """The order's public tracking page (served by the tracking context)."""
    return public_url(f"/track/{token}")


def _for_customer(order: OrderNotice, **context) -> Composed:
    context = {
        "order": order,
        "shop_name": order.shop.name,
        "customer_name": order.customer_name,
        "tracking_url": tracking_url(order.tracking_token),
        **context,
    }
    return order.customer_email, order.shop.name, order.shop.email, context


def _order_confirmed(notification: Notification, now: datetime) -> Composed:
    order = order_notice(order_id=notification.order_id)
    invoice = next(
        (i for i in invoices_for_order(order_id=order.order_id) if i.kind == "invoice"), None
    )
    if invoice is None and now - notification.created_at < INVOICE_WAIT:
        raise NotReady("Waiting for the invoice.", retry_in=INVOICE_POLL)
    return _for_customer(order, invoice=invoice)


def _shipment_dispatched(notification: Notification, now: datetime) -> Composed:
    data = notification.data
    return _for_customer(
        order_notice(order_id=notification.order_id),
        carrier=data["carrier"],
        tracking_number=data["tracking_number"],
    )


def _shipment_delivered(notification: Notification, now: datetime) -> Composed:
    return _for_customer(order_notice(order_id=notification.order_id))


PAYMENT_FAILED_PREFIX = "Payment failed: "


def _order_cancelled(notification: Notification, now: datetime) -> Composed:
    data = notification.data
    reason = data.get("reason", "")
    if data.get("cancelled_by") == "system" and reason.startswith(PAYMENT_FAILED_PREFIX):
        cause, reason = "payment", reason.removeprefix(PAYMENT_FAILED_PREFIX)
    else:
        cause = "shop"
    return _for_customer(
        order_notice(order_id=notification.order_id),
        cause=cause,
        reason=reason,
        # the payments context refunds a captured payment of a cancelled order
        refunded=data.get("previous_status") in ("paid", "confirmed"),
    )


def _order_rejected(notification: Notification, now: datetime) -> Composed:
    order = order_notice(order_id=notification.order_id)
    names = {line.sku: line.name for line in order.lines}
    short = [
        {**line, "name": names.get(line["sku"], line["sku"])}
        for line in notification.data.get("short_lines", [])
    ]
    return _for_customer(order, short_lines=short)


def _webhook_endpoint_disabled(notification: Notification, now: datetime) -> Composed:
    data = notification.data
    shop = shop_contact(shop_id=notification.shop_id)
    context = {
        "shop_name": shop.name,
        "url": data["url"],
        "failing_since": parse_datetime(data["failing_since"]),
        "last_error": data["last_error"],
        "window_hours": settings.WEBHOOK_DISABLE_AFTER_HOURS,
        "api_docs_url": public_url("/api/docs/"),
        "endpoint_id": data["endpoint_id"],
    }
    return shop.email, "OrderFlow", "", context


COMPOSERS = {
    "order.confirmed/customer": _order_confirmed,
    "shipment.dispatched/customer": _shipment_dispatched,
    "shipment.delivered/customer": _shipment_delivered,
    "order.cancelled/customer": _order_cancelled,
    "order.rejected/customer": _order_rejected,
    "webhook_endpoint.disabled/shop": _webhook_endpoint_disabled,
}
