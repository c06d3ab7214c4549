"""The e-mail ledger: queue once per (event, channel, template), compose, send, retry, resend.

Queuing runs in the notifications projector's batch (``projection.py``): the ledger rows
commit with the projector's checkpoint, and their unique key makes a re-applied event
queue nothing. Sending runs in a Celery task kicked on commit, like webhooks. A message
is composed at its first send from the event's facts and what the orders context shows of
the order — read once per claimed batch, not per e-mail — and kept, so a resend is the
same e-mail. The confirmation is queued on ``invoice.issued``: it has its invoice.
"""

import smtplib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime

from orderflow import customer_locale
from orderflow.events.workqueue import execute_prepared
from orderflow.observability import tracing
from orders.events import OrderStatus
from orders.interface import OrderNotice, ShopContact, order_notices, shop_contacts

from .. import emails, metrics
from ..choices import AttemptOutcome, SendStatus
from ..exceptions import EmailBeingSent, EmailNotFound
from ..models import EmailResend, Notification
from .queues import EMAIL_BATCH_SIZE, EMAILS, SendResult

BATCH_SIZE = EMAIL_BATCH_SIZE
DRAIN_SECONDS = 10.0


class CannotCompose(Exception):
    """The e-mail cannot be written (no recipient, no order): the ledger row fails for good."""


#: failures of composing that no retry will fix
COMPOSE_ERRORS = (
    CannotCompose,
    ObjectDoesNotExist,
    TemplateDoesNotExist,
    TemplateSyntaxError,
    KeyError,
)
#: failures of sending that may pass (the mail server is down, busy or slow)
SEND_ERRORS = (smtplib.SMTPException, OSError)


def email_notifications_queue_for_event(
    *, event_type: str, event_id: str | UUID, shop_id: int, data: dict[str, Any]
) -> int:
    """Queue one event's e-mails by hand (the projector queues a whole batch at once).

    Return how many ledger rows are new; kicks the sender after commit.
    """
    # late import: projection imports this module's neighbours, not the other way round
    from .projection import LedgerRow, _ledger_insert

    rows = [
        LedgerRow(
            event_id=str(event_id),
            event_type=event_type,
            template=trigger.template,
            shop_id=shop_id,
            order_id=data.get("order_id"),
            data=emails.ledger_data(data, occurred_at=timezone.now()),
            trace_context=tracing.current_trace_context(),
        )
        for trigger in emails.triggers_for(event_type)
        if trigger.applies(data)
    ]
    if not rows:
        return 0
    queued = _ledger_insert(rows, now=timezone.now())
    if queued:
        EMAILS.kick.after_commit()
    return queued


def email_notifications_send_due(
    *, now: datetime | None = None, limit: int = BATCH_SIZE
) -> SendResult:
    """Claim one batch of due e-mails and try each once.

    What the batch's unrendered e-mails show of their orders and shops is read once for
    the batch (two queries for the orders, one for the shops), never per e-mail.
    """
    result = SendResult()
    claimed = EMAILS.claim(now=now or timezone.now(), limit=limit)
    if not claimed:
        return result
    facts = Facts.for_batch([n for n in claimed if not n.rendered])
    with _batch_connection() as connection:
        for notification in claimed:
            outcome = _send(
                notification, facts=facts, now=now or timezone.now(), connection=connection
            )
            setattr(result, outcome, getattr(result, outcome) + 1)
    return result


@contextmanager
def _batch_connection() -> Iterator[BaseEmailBackend | None]:
    """One backend connection (one SMTP session) for a batch's messages.

    None when it cannot be opened: each message then opens its own and fails, or is
    retried, on its own.
    """
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except SEND_ERRORS:
        yield None
        return
    try:
        yield connection
    finally:
        with suppress(*SEND_ERRORS):
            connection.close()


def email_notifications_drain(*, max_seconds: float = DRAIN_SECONDS) -> SendResult:
    """Send batches until nothing is due or ``max_seconds`` have passed (the engine's loop)."""
    return EMAILS.drain(
        email_notifications_send_due,
        total=SendResult(),
        max_seconds=max_seconds,
        batch_size=BATCH_SIZE,
    )


def email_notifications_due_exist(now: datetime | None = None) -> bool:
    return EMAILS.due_exists(now)


@transaction.atomic
def email_notification_resend(*, notification: Notification, actor: str = "") -> Notification:
    """Send the same e-mail again (by hand: redelivered events never do this).

    An e-mail still waiting to be sent is left as it is; a resend that queues the row
    again is audited (``EmailResend``: ``actor``, the time).
    """
    requeued = (
        Notification.objects.filter(pk=notification.pk)
        .exclude(status__in=[SendStatus.QUEUED, SendStatus.SENDING])
        .update(status=SendStatus.QUEUED, attempts=0, next_attempt_at=timezone.now(), last_error="")
    )
    if requeued:
        EmailResend.objects.create(notification_id=notification.pk, actor=actor[:200])
    EMAILS.kick.after_commit()
    notification.refresh_from_db()
    return notification


@transaction.atomic
def email_notification_resend_for_order(
    *, order_id: UUID, notification_id: int, actor: str
) -> Notification:
    """Send one of an order's customer e-mails again, as it was composed; audited.

    Only the order's own customer e-mails can be resent this way (another order's, or a
    shop's, is :class:`EmailNotFound`); one still waiting to be sent is
    :class:`EmailBeingSent`, and nothing changes.
    """
    notification = (
        Notification.objects.select_for_update()
        .filter(
            pk=notification_id,
            order_id=order_id,
            template__endswith=f"/{emails.CUSTOMER}",
        )
        .first()
    )
    if notification is None:
        raise EmailNotFound("This order has no such customer e-mail.")
    if notification.status in (SendStatus.QUEUED, SendStatus.SENDING):
        raise EmailBeingSent(
            "This e-mail is waiting to be sent already; it goes out without a resend."
        )
    return email_notification_resend(notification=notification, actor=actor)


# --- what a batch's e-mails show, read once ---
@dataclass(frozen=True)
class Facts:
    """The orders and shops a batch's e-mails show, read once for the batch."""

    orders: dict[UUID, OrderNotice]
    shops: dict[int, ShopContact]

    @classmethod
    def for_batch(cls, notifications: list[Notification]) -> "Facts":
        order_ids = {n.order_id for n in notifications if n.order_id is not None}
        shop_ids = {n.shop_id for n in notifications if n.order_id is None}
        return cls(
            orders=order_notices(order_ids=order_ids) if order_ids else {},
            shops=shop_contacts(shop_ids=shop_ids) if shop_ids else {},
        )

    def order(self, notification: Notification) -> OrderNotice:
        try:
            return self.orders[notification.order_id]
        except KeyError:
            raise CannotCompose(f"The order {notification.order_id} does not exist.") from None

    def shop(self, notification: Notification) -> ShopContact:
        try:
            return self.shops[notification.shop_id]
        except KeyError:
            raise CannotCompose(f"The shop {notification.shop_id} does not exist.") from None


# --- one attempt ---
#: what composing a message writes to its row (with the attempt's outcome: one UPDATE)
RENDERED_FIELDS = ("recipient", "from_email", "reply_to", "subject", "body_text", "body_html")


def _send(
    notification: Notification,
    *,
    facts: Facts,
    now: datetime,
    connection: BaseEmailBackend | None = None,
) -> str:
    """Compose (first time only) and send; return the SendResult field to count it in.

    The outcome and, the first time, the composed message are written by one UPDATE
    after the attempt, so a resend is the same e-mail.
    """
    if notification.attempts > emails.MAX_ATTEMPTS:
        return _fail(notification, "No attempt finished.")
    rendered: dict[str, Any] = {}
    if not notification.rendered:
        try:
            _compose(notification, facts=facts)
        except COMPOSE_ERRORS as error:
            return _fail(notification, f"Cannot compose: {type(error).__name__}: {error}")
        rendered = {name: getattr(notification, name) for name in RENDERED_FIELDS}
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
                connection=connection,
            )
    except SEND_ERRORS as error:
        message = f"{type(error).__name__}: {error}"[:2000]
        if notification.attempts >= emails.MAX_ATTEMPTS:
            return _fail(notification, message, **rendered)
        _record(
            notification,
            status=SendStatus.QUEUED,
            next_attempt_at=now + emails.RETRY_DELAYS[notification.attempts - 1],
            last_error=message,
            rendered=rendered,
        )
        metrics.record_email(outcome=AttemptOutcome.RETRY)
        return "retried"
    _record(notification, status=SendStatus.SENT, sent_at=now, rendered=rendered)
    metrics.record_email(outcome=AttemptOutcome.SENT)
    return "sent"


def _fail(notification: Notification, message: str, **rendered: Any) -> str:
    """Fail the row for good (a send, or composing it, that no retry will fix)."""
    _record(notification, status=SendStatus.FAILED, last_error=message, rendered=rendered)
    metrics.record_email(outcome=AttemptOutcome.FAILED)
    return "failed"


#: An attempt's outcome as one prepared UPDATE on PostgreSQL (the ORM compiled it for every
#: e-mail: ≈ 7 % of the flow worker's CPU in the bench). A rendered field bound as NULL
#: keeps the row's value; a send counts once and stamps ``sent_at``.
_RECORD_SQL = f"""
UPDATE {Notification._meta.db_table} SET
    status = %(status)s::text, lease_until = NULL,
    next_attempt_at = %(next_attempt_at)s::timestamptz, last_error = %(last_error)s::text,
    sent_at = coalesce(%(sent_at)s::timestamptz, sent_at),
    sent_count = sent_count + CASE WHEN %(sent_at)s::timestamptz IS NULL THEN 0 ELSE 1 END,
    {", ".join(f"{name} = coalesce(%({name})s::text, {name})" for name in RENDERED_FIELDS)}
WHERE id = %(id)s::bigint
"""  # noqa: S608 (the table and column names are the model's, values are parameters)


def _record(
    notification: Notification,
    *,
    status: str,
    rendered: dict[str, Any],
    sent_at: datetime | None = None,
    next_attempt_at: datetime | None = None,
    last_error: str = "",
) -> None:
    """Write an attempt's outcome (and the message composed for it) to the ledger row."""
    outcome = {
        "status": status,
        "lease_until": None,
        "next_attempt_at": next_attempt_at,
        "last_error": last_error,
    }
    if db_connection.vendor != "postgresql":  # the embedded mode (SQLite): the same, by the ORM
        counted = {"sent_at": sent_at, "sent_count": F("sent_count") + 1} if sent_at else {}
        Notification.objects.filter(pk=notification.pk).update(**outcome, **counted, **rendered)
        return
    execute_prepared(
        _RECORD_SQL,
        {
            **outcome,
            "id": notification.pk,
            "sent_at": sent_at,
            **{name: rendered.get(name) for name in RENDERED_FIELDS},
        },
    )


def _compose(notification: Notification, *, facts: Facts) -> None:
    """Fill in recipient, sender and the rendered message from the event and the batch's facts."""
    composer = COMPOSERS[notification.template]
    recipient, sender_name, reply_to, context = composer(notification, facts)
    if not recipient:
        raise CannotCompose("There is no e-mail address to send it to.")
    # written once, in the customer's language, and kept: a resend is the same e-mail
    with translation.override(context.get("language") or customer_locale.default_language()):
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
        "language": customer_locale.order_language(order.customer_locale),
        **context,
    }
    return order.customer_email, order.shop.name, order.shop.email, context


@dataclass(frozen=True)
class InvoiceFacts:
    """The invoice as the confirmation shows it, from the ``invoice.issued`` event."""

    number: str
    total: Decimal
    currency: str
    issued_at: datetime | None


def _invoice_issued(notification: Notification, facts: Facts) -> Composed:
    data = notification.data
    invoice = InvoiceFacts(
        number=data["number"],
        total=Decimal(str(data["total"])),
        currency=data["currency"],
        issued_at=parse_datetime(data.get("issued_at") or data.get("occurred_at") or ""),
    )
    return _for_customer(facts.order(notification), invoice=invoice)


def _shipment_dispatched(notification: Notification, facts: Facts) -> Composed:
    """The parcel, its items (events since split shipments name them) and whether more follow.

    ``status`` is the order's after the parcel: ``partially_shipped``, or "" for a further
    parcel of an order still partly shipped; an older event (no ``lines``) was the whole order.
    """
    data = notification.data
    lines = data.get("lines") or []
    return _for_customer(
        facts.order(notification),
        carrier=data["carrier"],
        tracking_number=data["tracking_number"],
        parcel_items=[
            {"name": line.get("name") or line["sku"], "quantity": line["quantity"]}
            for line in lines
        ],
        more_to_follow=bool(lines) and data.get("status") in ("partially_shipped", ""),
    )


def _shipment_delivered(notification: Notification, facts: Facts) -> Composed:
    return _for_customer(facts.order(notification))


def _shipment_exception(notification: Notification, facts: Facts) -> Composed:
    """A parcel's bad news (a failed attempt, held, going back): which parcel, where, and
    the carrier's words, all from the event; what to do is the template's."""
    data = notification.data
    return _for_customer(
        facts.order(notification),
        carrier=data["carrier"],
        tracking_number=data["tracking_number"],
        location=data.get("location", ""),
        carrier_note=data.get("note", ""),
        parcel_items=[
            {"name": line.get("name") or line["sku"], "quantity": line["quantity"]}
            for line in data.get("lines") or ()
        ],
    )


PAYMENT_FAILED_PREFIX = "Payment failed: "


def _order_cancelled(notification: Notification, facts: Facts) -> Composed:
    data = notification.data
    reason = data.get("reason", "")
    if data.get("cancelled_by") == "system" and reason.startswith(PAYMENT_FAILED_PREFIX):
        cause, reason = "payment", reason.removeprefix(PAYMENT_FAILED_PREFIX)
    else:
        cause = "shop"
    return _for_customer(
        facts.order(notification),
        cause=cause,
        reason=reason,
        # the payments context refunds a captured payment of a cancelled order
        refunded=data.get("previous_status") in (OrderStatus.PAID, OrderStatus.CONFIRMED),
    )


def _order_remainder_cancelled(notification: Notification, facts: Facts) -> Composed:
    """The units that will not ship (names as ordered), the money back and why; the parcels
    already sent stay on their way."""
    data = notification.data
    return _for_customer(
        facts.order(notification),
        cancelled_items=[
            {"name": line.get("name") or line["sku"], "quantity": line["quantity"]}
            for line in data.get("lines", ())
        ],
        refunded_amount=Decimal(str(data["refunded_amount"])),
        currency=data["currency"],
        reason=data.get("reason", ""),
    )


def _order_rejected(notification: Notification, facts: Facts) -> Composed:
    order = facts.order(notification)
    names = {line.sku: line.name for line in order.lines}
    short = [
        {**line, "name": names.get(line["sku"], line["sku"])}
        for line in notification.data.get("short_lines", [])
    ]
    return _for_customer(order, short_lines=short)


def _payment_refunded(notification: Notification, facts: Facts) -> Composed:
    data = notification.data
    return _for_customer(
        facts.order(notification),
        amount=Decimal(str(data["amount"])),
        currency=data["currency"],
        reason=data.get("reason", ""),
        # its credit note's number ("" in events stored before refunds had one)
        credit_note=data.get("credit_note", ""),
    )


def _return_step(notification: Notification, facts: Facts) -> Composed:
    """A return asked for, approved or rejected: its lines (names as ordered) and reason."""
    data = notification.data
    return _for_customer(
        facts.order(notification),
        lines=[
            {
                "sku": line["sku"],
                "quantity": line["quantity"],
                "name": line.get("name") or line["sku"],
            }
            for line in data.get("lines", ())
        ],
        reason=data.get("reason", ""),
    )


def _return_refunded(notification: Notification, facts: Facts) -> Composed:
    """A return's refund: how much, for which units, and its credit note (all in the event;
    an event stored before it named lines or a credit note says the amount only)."""
    data = notification.data
    return _for_customer(
        facts.order(notification),
        return_number=data.get("return_number", ""),
        amount=Decimal(str(data["amount"])),
        currency=data["currency"],
        lines=[
            {
                "sku": line["sku"],
                "quantity": line["quantity"],
                "name": line.get("name") or line["sku"],
            }
            for line in data.get("lines", ())
        ],
        credit_note=data.get("credit_note", ""),
    )


def _webhook_endpoint_disabled(notification: Notification, facts: Facts) -> Composed:
    data = notification.data
    shop = facts.shop(notification)
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
    "invoice.issued/customer": _invoice_issued,
    "shipment.dispatched/customer": _shipment_dispatched,
    "shipment.delivered/customer": _shipment_delivered,
    "shipment.delivery_failed/customer": _shipment_exception,
    "shipment.held/customer": _shipment_exception,
    "shipment.returned_to_sender/customer": _shipment_exception,
    "order.cancelled/customer": _order_cancelled,
    "order.rejected/customer": _order_rejected,
    "order.remainder_cancelled/customer": _order_remainder_cancelled,
    "payment.refunded/customer": _payment_refunded,
    "return.requested/customer": _return_step,
    "return.approved/customer": _return_step,
    "return.rejected/customer": _return_step,
    "return.refunded/customer": _return_refunded,
    "webhook_endpoint.disabled/shop": _webhook_endpoint_disabled,
}
