"""What other contexts may read of notifications: an order's customer e-mails, as values."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy, pgettext_lazy

from . import emails
from .models import EmailResend, Notification

#: what each customer e-mail is, for staff, by template (in the staff member's language)
EMAIL_NAMES = {
    emails.CONFIRMATION: gettext_lazy("Order confirmation"),
    emails.LEGACY_CONFIRMATION: gettext_lazy("Order confirmation"),
    "shipment.dispatched/customer": pgettext_lazy("an e-mail's name", "Shipped"),
    "shipment.delivered/customer": pgettext_lazy("an e-mail's name", "Delivered"),
    "shipment.delivery_failed/customer": pgettext_lazy(
        "an e-mail's name", "Delivery attempt failed"
    ),
    "shipment.held/customer": pgettext_lazy("an e-mail's name", "Parcel held by the carrier"),
    "shipment.returned_to_sender/customer": pgettext_lazy(
        "an e-mail's name", "Parcel going back to the shop"
    ),
    "order.cancelled/customer": pgettext_lazy("an e-mail's name", "Cancelled"),
    "order.remainder_cancelled/customer": pgettext_lazy(
        "an e-mail's name", "Rest of the order cancelled"
    ),
    "order.rejected/customer": pgettext_lazy("an e-mail's name", "Rejected"),
    "payment.refunded/customer": pgettext_lazy("an e-mail's name", "Refund"),
    "return.requested/customer": pgettext_lazy("an e-mail's name", "Return requested"),
    "return.approved/customer": pgettext_lazy("an e-mail's name", "Return approved"),
    "return.rejected/customer": pgettext_lazy("an e-mail's name", "Return not accepted"),
    "return.refunded/customer": pgettext_lazy("an e-mail's name", "Return refunded"),
}


@dataclass(frozen=True)
class OrderEmail:
    notification_id: int
    name: str
    subject: str
    recipient: str
    status: str
    sent_count: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str
    #: the newest resend: who asked and when (None if never resent by hand)
    resent_by: str
    resent_at: datetime | None

    @property
    def waiting(self) -> bool:
        """Queued or being sent: a resend would change nothing."""
        return self.status in ("queued", "sending")


def order_emails(*, order_id: UUID) -> tuple[OrderEmail, ...]:
    """The order's customer e-mails, oldest first, each with its newest resend (2 queries)."""
    rows = (
        Notification.objects.filter(order_id=order_id, template__endswith=f"/{emails.CUSTOMER}")
        .only(
            "id",
            "template",
            "subject",
            "recipient",
            "status",
            "sent_count",
            "created_at",
            "sent_at",
            "last_error",
            "order_id",
        )
        .prefetch_related(
            Prefetch("resends", queryset=EmailResend.objects.order_by("-requested_at", "-id"))
        )
        .order_by("created_at", "id")
    )
    found = []
    for row in rows:
        resends = list(row.resends.all())
        last = resends[0] if resends else None
        found.append(
            OrderEmail(
                notification_id=row.pk,
                name=EMAIL_NAMES.get(row.template, row.template),
                subject=row.subject,
                recipient=row.recipient,
                status=row.status,
                sent_count=row.sent_count,
                created_at=row.created_at,
                sent_at=row.sent_at,
                last_error=row.last_error,
                resent_by=last.actor if last else "",
                resent_at=last.requested_at if last else None,
            )
        )
    return tuple(found)
