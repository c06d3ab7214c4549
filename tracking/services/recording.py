"""Recording an order's history: one entry per event, and the order's live status."""

from dataclasses import dataclass
from functools import partial
from uuid import UUID

from django.db import transaction

from orderflow.events import Envelope
from orders import interface as orders_interface

from .. import payloads, push
from ..choices import PRIVATE_MILESTONES, TrackingSource
from ..models import TrackedOrder, TrackingEntry
from ..snapshots import live_status_set

#: how an actor recorded by the orders context (``staff:ana``) reads as a source
_SOURCES_BY_ACTOR_KIND = {
    "staff": TrackingSource.STAFF,
    "shop-key": TrackingSource.SHOP,
    "carrier": TrackingSource.CARRIER,
}


@dataclass(frozen=True)
class EntryInput:
    order_id: UUID
    #: what happened (a ``Milestone``)
    milestone: str
    #: the order status the event announces; None when the status stays
    order_status: str | None = None
    #: None: ask the orders context who moved the order into ``order_status``
    source: str | None = TrackingSource.SYSTEM
    note: str = ""
    location: str = ""
    carrier: str = ""
    tracking_number: str = ""
    #: the customer's e-mail when the event changes it (the board searches by it)
    customer_email: str = ""
    #: who acted, as the orders context records it (``staff:ana``), when the event says
    actor: str = ""


@transaction.atomic
def tracking_record(*, entry: EntryInput, envelope: Envelope) -> TrackingEntry:
    """Append the entry, move the order's live status forward, push both after commit.

    Only an order event newer than the last one applied moves the status: a stale event
    (a lower sequence) is kept in the history and changes nothing else, and the same
    event twice is recorded once. The live snapshot and the pushes leave after commit.
    """
    tracked = _locked(entry.order_id)
    recorded = TrackingEntry.objects.filter(event_id=envelope.event_id).first()
    if recorded is not None:
        return recorded  # the same event again: its entry, status and pushes exist
    previous_status = tracked.status
    row = TrackingEntry.objects.create(
        order=tracked,
        shop_id=tracked.shop_id,
        event_id=envelope.event_id,
        event_type=envelope.type,
        aggregate=envelope.aggregate,
        sequence=envelope.sequence,
        status=entry.milestone,
        occurred_at=envelope.occurred_at,
        source=entry.source or _source_of(entry.order_id, entry.order_status, entry.actor),
        note=entry.note[:500],
        location=entry.location[:200],
        public=entry.milestone not in PRIVATE_MILESTONES,
    )
    if envelope.aggregate == "order" and envelope.sequence > tracked.sequence:
        tracked.sequence = envelope.sequence
        tracked.updated_at = envelope.occurred_at
        if entry.order_status:
            tracked.status = entry.order_status
        if entry.carrier:
            tracked.carrier = entry.carrier
            tracked.tracking_number = entry.tracking_number
        if entry.customer_email:
            tracked.customer_email = entry.customer_email
        tracked.save(
            update_fields=[
                "sequence",
                "updated_at",
                "status",
                "carrier",
                "tracking_number",
                "customer_email",
            ]
        )
        transaction.on_commit(
            partial(live_status_set, tracked.order_id, payloads.live_status_of(tracked)),
            robust=True,
        )
    push.push_entry_after_commit(tracked=tracked, entry=row, previous_status=previous_status)
    return row


def tracked_order_ensure(*, order_id: UUID) -> TrackedOrder | None:
    """Return the order's tracking row, creating it from the orders context if missing.

    A reader (or an event of another aggregate) may come before ``order.placed`` is
    recorded; the row starts at sequence 0, so the order's own events all apply after.
    """
    tracked = TrackedOrder.objects.filter(pk=order_id).first()
    if tracked is not None:
        return tracked
    details = orders_interface.order_tracking_details(order_id=order_id)
    if details is None:
        return None
    TrackedOrder.objects.bulk_create(
        [
            TrackedOrder(
                order_id=details.order_id,
                shop_id=details.shop_id,
                shop_name=details.shop_name,
                number=details.number,
                customer_email=details.customer_email,
                total=details.total,
                currency=details.currency,
                tracking_token=details.tracking_token,
                carrier=details.carrier,
                tracking_number=details.tracking_number,
                status=details.status,
                sequence=0,
                placed_at=details.created_at,
                updated_at=details.created_at,
            )
        ],
        ignore_conflicts=True,
    )
    return TrackedOrder.objects.get(pk=order_id)


def _locked(order_id: UUID) -> TrackedOrder:
    tracked = TrackedOrder.objects.select_for_update().filter(pk=order_id).first()
    if tracked is not None:
        return tracked  # every event after the first: one query
    if tracked_order_ensure(order_id=order_id) is None:
        # the order does not exist: no retry will make it appear (dead letter at once)
        raise TrackedOrder.DoesNotExist(f"Order {order_id} does not exist.")
    return TrackedOrder.objects.select_for_update().get(pk=order_id)


def _source_of(order_id: UUID, status: str | None, actor: str = "") -> str:
    if not actor:
        actor = orders_interface.order_transition_actor(order_id=order_id, status=status or "")
    kind = (actor or "system").split(":", 1)[0]
    return _SOURCES_BY_ACTOR_KIND.get(kind, TrackingSource.SYSTEM)
