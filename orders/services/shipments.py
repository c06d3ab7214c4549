"""What carriers report about parcels, applied to the orders they carry."""

from django.db import transaction

from orderflow.events import publish

from .. import carriers, state_machine
from ..choices import OrderStatus as S
from ..events import (
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentInTransit,
    ShipmentOutForDelivery,
)
from ..exceptions import InvalidTransition, UnknownShipment
from ..models import Order
from .shops import Actor

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
_ON_THE_ROAD = frozenset({S.SHIPPED, S.OUT_FOR_DELIVERY})


@transaction.atomic
def shipment_report(
    *, carrier: str, tracking_number: str, status: str, location: str = "", note: str = ""
) -> Order:
    """Apply a carrier's status to the order its tracking number names.

    ``out_for_delivery`` and ``delivered`` move the order through the state machine (a
    repeat of the status the order already has changes nothing); ``in_transit`` and
    ``delivery_failed`` add to the parcel's history, with the carrier's location and note,
    while it is on the road. A tracking number of another carrier is unknown to this one.
    """
    order = (
        Order.objects.select_for_update()
        .filter(tracking_number=tracking_number, carrier__iexact=carrier)
        .order_by("-created_at")
        .first()
    )
    if order is None:
        raise UnknownShipment(
            f"No parcel of carrier {carrier!r} has tracking number {tracking_number!r}."
        )
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
            return order  # the carrier repeated itself
        state_machine.transition(order, to=target, actor=str(Actor(kind="carrier", name=carrier)))
        publish(event_class(**fields))
        return order
    if order.status not in _ON_THE_ROAD:
        raise InvalidTransition(
            f"The order is {S(order.status).label.lower()}; a carrier can report it "
            f"{status.replace('_', ' ')} only while it is on the road.",
            extra={
                "order_status": order.status,
                "allowed_actions": state_machine.allowed_actions(order.status),
            },
        )
    publish(_REPORTS[status](**fields, location=location, note=note))
    return order
