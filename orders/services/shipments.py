"""What carriers report about parcels, applied to the shipments and orders they carry."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, IntegerField, OuterRef, Value, When
from django.utils import timezone

from orderflow.events import publish

from .. import carriers, state_machine
from ..choices import OrderStatus as S
from ..choices import ShipmentStatus
from ..events import (
    ShipmentCancelled,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentHeld,
    ShipmentInTransit,
    ShipmentOutForDelivery,
    ShipmentReturnedToSender,
)
from ..exceptions import AmbiguousParcel, InvalidTransition, UnknownShipment
from ..models import CarrierReport, Order, Shipment, ShopCarrier
from ..models.shipments import ON_THE_ROAD
from .dispatch import SHIPMENT_LINES, shipment_facts
from .shops import Actor

logger = logging.getLogger(__name__)

#: the carrier status that may move the order, and the event it publishes
_MOVES = {
    carriers.OUT_FOR_DELIVERY: ShipmentOutForDelivery,
    carriers.DELIVERED: ShipmentDelivered,
}
#: the carrier statuses that only add to the parcel's history, and while it may
_REPORTS = {
    carriers.IN_TRANSIT: ShipmentInTransit,
    carriers.DELIVERY_FAILED: ShipmentDeliveryFailed,
    carriers.HELD: ShipmentHeld,
    carriers.RETURNED_TO_SENDER: ShipmentReturnedToSender,
    carriers.CANCELLED: ShipmentCancelled,
}
_ON_THE_ROAD = frozenset(ON_THE_ROAD)


@dataclass(frozen=True)
class ShipmentReportOutcome:
    """The order and parcel a carrier's report is about, and whether it was a replay.

    ``shipment`` is None only for a replay of a report kept before shipments existed.
    """

    order: Order
    duplicate: bool
    shipment: Shipment | None = None


@transaction.atomic
def shipment_report(
    *,
    carrier: str,
    event_id: str,
    tracking_number: str,
    status: str,
    location: str = "",
    note: str = "",
    eta: datetime | None = None,
) -> ShipmentReportOutcome:
    """Apply a carrier's status to the one parcel (shipment) its tracking number names.

    The entry point of every carrier feed: the signed push endpoint, and polling (karrio)
    alike. Keep its keywords stable; ``eta`` (optional) is the carrier's expected
    delivery, kept on the parcel and carried by the event.

    The parcel takes the status. ``out_for_delivery`` and ``delivered`` also move the
    order: out for delivery when it has shipped every unit, delivered when every parcel is
    (a repeat of the status the parcel has changes nothing). ``in_transit``,
    ``delivery_failed``, ``held``, ``returned_to_sender`` and ``cancelled`` add to the
    parcel's history, with the carrier's location and note, while it is on the road; none
    moves the order. A held parcel is still on the road (it may move on and be delivered);
    one returned to its sender, or whose shipment the carrier cancelled (it never left), is
    not, so the carrier's later reports on it are refused. A tracking number of another
    carrier is unknown to this one.

    The report is kept under the carrier's ``event_id``, in the transaction of its effect:
    the same event again (a carrier's retry, or a captured request replayed within the
    signature's age) finds the key taken and is answered as a duplicate, with no effect.
    """
    first = (
        CarrierReport.objects.filter(carrier=carrier, event_id=event_id)
        .select_related("order", "shipment")
        .first()
    )
    if first is not None:
        # answered with the parcel the event was about, even if its number is on another
        # parcel by now
        return ShipmentReportOutcome(order=first.order, duplicate=True, shipment=first.shipment)
    parcel = _parcel_for(carrier=carrier, tracking_number=tracking_number, event_id=event_id)
    order = parcel.order
    try:
        # The same event in flight on another connection waits on the order's lock and
        # then meets the key. No savepoint: a taken key is the one error here, and it ends
        # the transaction, which has written nothing else yet.
        with transaction.atomic(savepoint=False):
            CarrierReport.objects.create(
                carrier=carrier, event_id=event_id, order=order, shipment=parcel, status=status
            )
    except IntegrityError:
        transaction.set_rollback(True)
        return ShipmentReportOutcome(order=order, duplicate=True, shipment=parcel)
    actor = str(Actor(kind="carrier", name=carrier))
    if status in _MOVES:
        if parcel.status == status and eta is None:
            return ShipmentReportOutcome(order=order, duplicate=False, shipment=parcel)
        if parcel.status not in _ON_THE_ROAD and status != parcel.status:
            # delivered, or returned to its sender: final, nothing moves it on
            raise _refused(order, parcel, status)
        _parcel_update(parcel, status=status, eta=eta)
        order_status = _order_follows(order, parcel_status=status, actor=actor)
        publish(
            _MOVES[status](
                order_id=order.id,
                shop_id=order.shop_id,
                number=order.number,
                **shipment_facts(parcel),
                status=order_status,
                actor=actor,
            )
        )
        return ShipmentReportOutcome(order=order, duplicate=False, shipment=parcel)
    if parcel.status not in _ON_THE_ROAD:
        raise _refused(order, parcel, status)
    _parcel_update(parcel, status=status, eta=eta)
    publish(
        _REPORTS[status](
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            **shipment_facts(parcel),
            location=location,
            note=note,
            actor=actor,
        )
    )
    return ShipmentReportOutcome(order=order, duplicate=False, shipment=parcel)


def _parcel_update(parcel: Shipment, *, status: str, eta: datetime | None) -> None:
    parcel.status = status
    if eta is not None:
        parcel.eta = eta
    # the carrier's news is the parcel's again: an exception staff marked handled is over
    # (``parcel_issues``), and new bad news puts the parcel back in the queue
    parcel.issue_resolved_at, parcel.issue_resolved_by = None, ""
    parcel.save(
        update_fields=["status", "eta", "issue_resolved_at", "issue_resolved_by", "updated_at"]
    )


def _order_follows(order: Order, *, parcel_status: str, actor: str) -> str:
    """Move the order as its parcels now stand; return its new status, or "" if it stays.

    An order with units still in the warehouse (``partially_shipped``) stays whatever its
    parcels do. A shipped one is out for delivery with its first parcel out for delivery,
    and delivered when every parcel is.
    """
    if order.status not in (S.SHIPPED, S.OUT_FOR_DELIVERY):
        return ""
    if parcel_status == carriers.DELIVERED:
        undelivered = (
            Shipment.objects.filter(order=order).exclude(status=ShipmentStatus.DELIVERED).exists()
        )
        if undelivered:
            return ""
        state_machine.transition(order, to=S.DELIVERED, actor=actor)
        return S.DELIVERED.value
    if order.status == S.SHIPPED:
        state_machine.transition(order, to=S.OUT_FOR_DELIVERY, actor=actor)
        return S.OUT_FOR_DELIVERY.value
    return ""


def _refused(order: Order, parcel: Shipment, status: str) -> InvalidTransition:
    return InvalidTransition(
        f"The parcel {parcel.tracking_number} is {ShipmentStatus(parcel.status).label.lower()}; "
        f"a carrier can report it {status.replace('_', ' ')} only while it is on the road.",
        extra={
            "order_status": order.status,
            "shipment_id": str(parcel.id),
            "shipment_status": parcel.status,
            "allowed_actions": state_machine.allowed_actions(order.status),
        },
    )


def _parcel_for(*, carrier: str, tracking_number: str, event_id: str) -> Shipment:
    """Lock and return the one parcel of a shop bound to ``carrier`` that the number names.

    A number on the road names one parcel (a unique index); failing that, the only parcel
    ever shipped with it. Several parcels, or one of a shop not bound to the carrier (a
    binding removed, or a row from before bindings), is refused and logged, never guessed.
    The order is locked before its parcel, as every writer of an order's parcels does.
    """
    parcels = list(
        Shipment.objects.filter(carrier__iexact=carrier, tracking_number=tracking_number)
        .annotate(
            on_the_road=Case(
                When(status__in=ON_THE_ROAD, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
            bound=Exists(
                ShopCarrier.objects.filter(
                    shop_id=OuterRef("order__shop_id"), carrier__iexact=carrier
                )
            ),
        )
        .select_related("order")
        .order_by("-on_the_road", "-created_at")[:2]
    )
    unknown = UnknownShipment(
        f"No parcel of carrier {carrier!r} has tracking number {tracking_number!r}."
    )
    if not parcels:
        raise unknown
    if len(parcels) > 1 and parcels[0].on_the_road == parcels[1].on_the_road:
        _log_refusal("ambiguous", carrier, tracking_number, event_id, parcels)
        raise AmbiguousParcel(
            f"More than one parcel of carrier {carrier!r} has tracking number "
            f"{tracking_number!r}; nothing was changed.",
            extra={"tracking_number": tracking_number},
        )
    parcel = parcels[0]
    if not parcel.bound:
        # To this carrier the parcel is not one of its own: answered like an unknown number.
        _log_refusal("foreign_shop", carrier, tracking_number, event_id, [parcel])
        raise unknown
    order = Order.objects.select_for_update().get(pk=parcel.order_id)
    locked = Shipment.objects.select_for_update().prefetch_related(SHIPMENT_LINES).get(pk=parcel.pk)
    locked.order = order
    return locked


def _log_refusal(
    reason: str, carrier: str, tracking_number: str, event_id: str, parcels: list[Shipment]
) -> None:
    logger.warning(
        "carrier report refused",
        extra={
            "reason": reason,
            "carrier": carrier,
            "tracking_number": tracking_number,
            "event_id": event_id,
            "shipment_ids": [str(parcel.id) for parcel in parcels],
            "order_ids": [str(parcel.order_id) for parcel in parcels],
            "shop_ids": [parcel.order.shop_id for parcel in parcels],
        },
    )


def carrier_reports_purge(*, older_than_days: int | None = None, batch_size: int = 2000) -> int:
    """Delete carrier reports older than the retention, in batches; return how many.

    A report's event id only has to outlive the carrier's retries: a captured request is
    refused by its timestamp after ``CARRIER_SIGNATURE_MAX_AGE`` seconds anyway. Small
    batches keep each delete's locks short beside the reports coming in.
    """
    days = settings.CARRIER_REPORTS_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            CarrierReport.objects.filter(received_at__lt=cutoff)
            .order_by("received_at")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += CarrierReport.objects.filter(id__in=ids).delete()[0]
