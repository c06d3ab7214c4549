"""What carriers report about parcels, applied to the orders they carry."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, IntegerField, OuterRef, Value, When
from django.utils import timezone

from orderflow.events import publish

from .. import carriers, state_machine
from ..choices import OrderStatus as S
from ..events import (
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentInTransit,
    ShipmentOutForDelivery,
)
from ..exceptions import AmbiguousParcel, InvalidTransition, UnknownShipment
from ..models import PARCEL_ON_THE_ROAD, CarrierReport, Order, ShopCarrier
from .shops import Actor

logger = logging.getLogger(__name__)

#: the carrier status that moves the order, and where to
_TRANSITIONS = {
    carriers.OUT_FOR_DELIVERY: (S.OUT_FOR_DELIVERY, ShipmentOutForDelivery),
    carriers.DELIVERED: (S.DELIVERED, ShipmentDelivered),
}
#: the carrier statuses that only add to the parcel's history, and while it may
_REPORTS = {
    carriers.IN_TRANSIT: ShipmentInTransit,
    carriers.DELIVERY_FAILED: ShipmentDeliveryFailed,
}
_ON_THE_ROAD = frozenset(PARCEL_ON_THE_ROAD)


@dataclass(frozen=True)
class ShipmentReportOutcome:
    """The order a carrier's report is about, and whether the report was a replay."""

    order: Order
    duplicate: bool


@transaction.atomic
def shipment_report(
    *,
    carrier: str,
    event_id: str,
    tracking_number: str,
    status: str,
    location: str = "",
    note: str = "",
) -> ShipmentReportOutcome:
    """Apply a carrier's status to the one parcel its tracking number names.

    ``out_for_delivery`` and ``delivered`` move the order through the state machine (a
    repeat of the status the order already has changes nothing); ``in_transit`` and
    ``delivery_failed`` add to the parcel's history, with the carrier's location and note,
    while it is on the road. A tracking number of another carrier is unknown to this one.

    The report is kept under the carrier's ``event_id``, in the transaction of its effect:
    the same event again (a carrier's retry, or a captured request replayed within the
    signature's age) finds the key taken and is answered as a duplicate, with no effect.
    """
    first = (
        CarrierReport.objects.filter(carrier=carrier, event_id=event_id)
        .select_related("order")
        .first()
    )
    if first is not None:
        # answered with the parcel the event was about, even if its number is on another
        # parcel by now
        return ShipmentReportOutcome(order=first.order, duplicate=True)
    order = _parcel_for(carrier=carrier, tracking_number=tracking_number, event_id=event_id)
    try:
        # The same event in flight on another connection waits on the order's lock and
        # then meets the key. No savepoint: a taken key is the one error here, and it ends
        # the transaction, which has written nothing else yet.
        with transaction.atomic(savepoint=False):
            CarrierReport.objects.create(
                carrier=carrier, event_id=event_id, order=order, status=status
            )
    except IntegrityError:
        transaction.set_rollback(True)
        return ShipmentReportOutcome(order=order, duplicate=True)
    fields = {
        "order_id": order.id,
        "shop_id": order.shop_id,
        "number": order.number,
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
    }
    if status in _TRANSITIONS:
        target, event_class = _TRANSITIONS[status]
        if order.status == target:
            return ShipmentReportOutcome(order=order, duplicate=False)  # a repeated status
        actor = str(Actor(kind="carrier", name=carrier))
        state_machine.transition(order, to=target, actor=actor)
        publish(event_class(**fields, status=S(target).value, actor=actor))
        return ShipmentReportOutcome(order=order, duplicate=False)
    if order.status not in _ON_THE_ROAD:
        raise InvalidTransition(
            f"The order is {S(order.status).label.lower()}; a carrier can report it "
            f"{status.replace('_', ' ')} only while it is on the road.",
            extra={
                "order_status": order.status,
                "allowed_actions": state_machine.allowed_actions(order.status),
            },
        )
    publish(
        _REPORTS[status](
            **fields,
            location=location,
            note=note,
            actor=str(Actor(kind="carrier", name=carrier)),
        )
    )
    return ShipmentReportOutcome(order=order, duplicate=False)


def _parcel_for(*, carrier: str, tracking_number: str, event_id: str) -> Order:
    """Lock and return the one parcel of a shop bound to ``carrier`` that the number names.

    A number on the road names one parcel (a unique index); failing that, the only parcel
    ever shipped with it. Several parcels, or one of a shop not bound to the carrier (a
    binding removed, or a row from before bindings), is refused and logged, never guessed.
    """
    parcels = list(
        Order.objects.select_for_update()
        .filter(carrier__iexact=carrier, tracking_number=tracking_number)
        .annotate(
            on_the_road=Case(
                When(status__in=PARCEL_ON_THE_ROAD, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
            bound=Exists(
                ShopCarrier.objects.filter(shop_id=OuterRef("shop_id"), carrier__iexact=carrier)
            ),
        )
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
    return parcel


def _log_refusal(
    reason: str, carrier: str, tracking_number: str, event_id: str, parcels: list[Order]
) -> None:
    logger.warning(
        "carrier report refused",
        extra={
            "reason": reason,
            "carrier": carrier,
            "tracking_number": tracking_number,
            "event_id": event_id,
            "order_ids": [str(parcel.id) for parcel in parcels],
            "shop_ids": [parcel.shop_id for parcel in parcels],
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
