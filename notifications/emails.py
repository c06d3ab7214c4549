"""Customer and shop e-mail: who is written to on which event, and the templates that say it.

``TRIGGERS`` is the one table to read. Each trigger names an event type and an audience;
its template is ``templates/notifications/email/<event type>/<audience>.{subject.txt,txt,html}``
(so a template directory, too, names an event type). ``checks.py`` refuses to start when
either names an event type that no context declares.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string

CUSTOMER = "customer"
SHOP = "shop"

TEMPLATE_ROOT = "notifications/email"
#: the three files of a template, after "<audience>"
TEMPLATE_PARTS = {"subject": ".subject.txt", "text": ".txt", "html": ".html"}


@dataclass(frozen=True)
class EmailTrigger:
    event_type: str
    audience: str
    #: the event's data must hold these values (e.g. an invoice, not a credit note)
    only_if: dict[str, Any] = field(default_factory=dict)

    @property
    def template(self) -> str:
        return f"{self.event_type}/{self.audience}"

    def applies(self, data: dict[str, Any]) -> bool:
        return all(data.get(key) == value for key, value in self.only_if.items())


TRIGGERS: tuple[EmailTrigger, ...] = (
    # the order's confirmation, sent once its invoice exists (issued on order.confirmed)
    EmailTrigger("invoice.issued", CUSTOMER, only_if={"kind": "invoice"}),
    EmailTrigger("shipment.dispatched", CUSTOMER),  # carrier, tracking number and link
    EmailTrigger("shipment.delivered", CUSTOMER),
    # a parcel's bad news: what happened and what the customer should do (one per event)
    EmailTrigger("shipment.delivery_failed", CUSTOMER),
    EmailTrigger("shipment.held", CUSTOMER),
    EmailTrigger("shipment.returned_to_sender", CUSTOMER),
    EmailTrigger("order.cancelled", CUSTOMER),  # why, in plain words; refund if paid
    # what of a partly shipped order will not ship, and the money back (its refund is
    # published with on_request false: this is the one e-mail)
    EmailTrigger("order.remainder_cancelled", CUSTOMER),
    EmailTrigger("order.rejected", CUSTOMER),  # which items were short
    # a refund the shop asked for (the cancellation's refund is in its own e-mail, a
    # return's in the return's: those are published with on_request false)
    EmailTrigger("payment.refunded", CUSTOMER, only_if={"on_request": True}),
    # a return: asked for, then approved or rejected, and refunded (amount, lines, credit note)
    EmailTrigger("return.requested", CUSTOMER),
    EmailTrigger("return.approved", CUSTOMER),
    EmailTrigger("return.rejected", CUSTOMER),  # why, in the shop's words
    EmailTrigger("return.refunded", CUSTOMER),
    EmailTrigger("webhook_endpoint.disabled", SHOP),  # to the shop's contact
)

#: the order's confirmation, and the template it had before it waited for the invoice event
CONFIRMATION = "invoice.issued/customer"
LEGACY_CONFIRMATION = "order.confirmed/customer"

#: an e-mail that fails to send waits this long before its next attempt (then gives up)
RETRY_DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=4),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


def triggers_for(event_type: str) -> list[EmailTrigger]:
    return [t for t in TRIGGERS if t.event_type == event_type]


def trigger_event_types() -> list[str]:
    return list(dict.fromkeys(t.event_type for t in TRIGGERS))


def ledger_data(data: dict[str, Any], *, occurred_at: datetime) -> dict[str, Any]:
    """What the ledger keeps of an event: its data, and when it happened if the data lacks it.

    The confirmation shows the invoice's issue date: the ``invoice.issued`` event's time.
    """
    return {"occurred_at": occurred_at.isoformat(), **data}


def template_files(template: str) -> dict[str, str]:
    return {part: f"{TEMPLATE_ROOT}/{template}{suffix}" for part, suffix in TEMPLATE_PARTS.items()}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render(template: str, context: dict) -> RenderedEmail:
    files = template_files(template)
    return RenderedEmail(
        subject=" ".join(render_to_string(files["subject"], context).split()),
        text=render_to_string(files["text"], context).strip() + "\n",
        html=render_to_string(files["html"], context),
    )


def sender(name: str) -> str:
    """``"<name>" <DEFAULT_FROM_EMAIL's address>``: the shop's name as the sender's name."""
    # one line (no header injection); Django encodes a non-ASCII name when sending
    display_name = " ".join(name.split())
    return str(
        Address(display_name=display_name, addr_spec=parseaddr(settings.DEFAULT_FROM_EMAIL)[1])
    )


def send(
    *,
    email: RenderedEmail,
    from_email: str,
    to: str,
    reply_to: str = "",
    connection: BaseEmailBackend | None = None,
) -> None:
    """Hand one message to Django's e-mail backend; its errors propagate to the caller.

    ``connection``: a backend the caller opened for a batch (one SMTP session for all of
    its messages); None opens one for this message.
    """
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text,
        from_email=from_email,
        to=[to],
        reply_to=[reply_to] if reply_to else None,
        connection=connection,
    )
    message.attach_alternative(email.html, "text/html")
    message.send(fail_silently=False)
