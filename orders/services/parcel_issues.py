"""Staff marking a parcel's delivery exception handled, which takes it off the queue.

A parcel the carrier could not deliver, holds, is sending back or whose shipment it
cancelled puts its order in the board's delivery-exceptions queue, and the carrier's
words alone took it out again (good news on that parcel). Staff who dealt with it (called
the customer, sent the units again, refunded them) mark it handled: the parcel keeps the
carrier's status, and ``shipment.issue_resolved`` tells every reader (the tracking
projection first) that the shop has dealt with it. The carrier's next report on the
parcel is its news again (``shipments._parcel_update`` clears the mark).
"""

from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from orderflow.errors import FieldError
from orderflow.events import publish

from ..choices import ShipmentStatus
from ..events import ShipmentIssueResolved
from ..exceptions import InvalidTransition, OrderInputError
from ..models import Order, Shipment
from ..models.shipments import DELIVERY_EXCEPTIONS
from .dispatch import SHIPMENT_LINES, shipment_facts
from .shops import Actor

NOTE_MAX_LENGTH = 500


@transaction.atomic
def shipment_issue_resolve(
    *, order_id: UUID, shipment_id: UUID, actor: Actor, note: str
) -> Shipment:
    """Mark the delivery exception of the order's parcel ``shipment_id`` handled.

    ``note`` says what staff did (the timeline shows it). Refused, with nothing changed
    and nothing published: an empty or too long note (:class:`OrderInputError`, 400), a
    parcel with no delivery exception, or one already marked handled since the carrier's
    last report (:class:`InvalidTransition`, 409). A parcel that is not the order's is
    ``Shipment.DoesNotExist``.
    """
    text = note.strip()
    if not text:
        detail = _("Say what was done about the parcel; the order's timeline keeps it.")
    elif len(text) > NOTE_MAX_LENGTH:
        detail = _("The note holds at most %(limit)s characters.") % {"limit": NOTE_MAX_LENGTH}
    elif "\x00" in text:  # PostgreSQL refuses NUL in text
        detail = _("The note holds a character that cannot be stored (NUL).")
    else:
        detail = ""
    if detail:
        raise OrderInputError(detail, errors=[FieldError("note", "invalid", detail)])
    # the order first, as every change to an order and its parcels locks it
    order = Order.objects.select_for_update().get(pk=order_id)
    parcel = (
        Shipment.objects.select_for_update()
        .prefetch_related(SHIPMENT_LINES)
        .get(pk=shipment_id, order=order)
    )
    if parcel.status not in DELIVERY_EXCEPTIONS:
        raise InvalidTransition(
            _("The parcel %(number)s is %(status)s: it has no delivery exception to handle.")
            % {
                "number": parcel.tracking_number,
                "status": ShipmentStatus(parcel.status).label.lower(),
            },
            extra={"shipment_id": str(parcel.id), "shipment_status": parcel.status},
        )
    if parcel.issue_resolved_at is not None:
        raise InvalidTransition(
            _("The parcel %(number)s was already marked handled by %(actor)s.")
            % {"number": parcel.tracking_number, "actor": parcel.issue_resolved_by},
            extra={"shipment_id": str(parcel.id), "shipment_status": parcel.status},
        )
    parcel.issue_resolved_at = timezone.now()
    parcel.issue_resolved_by = str(actor)[:100]
    parcel.save(update_fields=["issue_resolved_at", "issue_resolved_by", "updated_at"])
    publish(
        ShipmentIssueResolved(
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            **shipment_facts(parcel),
            issue=parcel.status,
            note=text,
            actor=str(actor),
        )
    )
    return parcel
