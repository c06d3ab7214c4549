"""Shipping an order: in one parcel or several, each with its lines, carrier and number.

The order row is locked first, so two parcels of one order are written one after the
other and the second sees what the first took: together they never exceed what was
ordered. What remains of a line is its quantity less the units of its shipment lines,
summed under that lock. A carrier's tracking number on the road names one parcel (the
partial unique index ``shipment_unique_parcel_on_the_road``): the insert is the guard,
not a lookup before it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Sum, prefetch_related_objects
from django.db.models.functions import Coalesce

from orderflow.errors import FieldError
from orderflow.events import publish

from .. import repository, state_machine
from ..choices import OrderStatus as S
from ..events import ShipmentDispatched, ShippedLine
from ..exceptions import OrderInputError, ShipmentExceedsOrder, TrackingNumberInUse
from ..models import Order, OrderLine, Shipment, ShipmentLine, Shop
from .carriers import shop_carrier_bound, shop_carrier_checked
from .shops import Actor
from .stock import stock_consume

PARCEL_CONSTRAINT = "shipment_unique_parcel_on_the_road"
#: a shipment's lines with their order lines' names, in one query (``shipment_facts``)
SHIPMENT_LINES = Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line"))
#: an order's lines, each with the units its parcels took (``shipped``)
LINES_WITH_SHIPPED = Prefetch(
    "lines",
    queryset=OrderLine.objects.annotate(
        shipped=Coalesce(Sum("shipment_lines__quantity"), 0)
    ).order_by("id"),
)
#: the statuses in which units wait in the warehouse for a parcel
SHIPPABLE = frozenset({S.CONFIRMED, S.PARTIALLY_SHIPPED})


@dataclass(frozen=True)
class ShipmentLineInput:
    sku: str
    quantity: int


@transaction.atomic
def shipment_create(
    *,
    order_id: UUID,
    shop: Shop | None,
    actor: Actor,
    carrier: str,
    tracking_number: str,
    service: str = "",
    lines: Sequence[ShipmentLineInput] | None = None,
) -> Shipment:
    """Hand a parcel to a carrier: consume its units' stock, publish ``shipment.dispatched``.

    ``lines`` None ships everything that remains. The order becomes ``partially_shipped``
    while units remain and ``shipped`` when this parcel takes the last of them. Refused,
    with nothing changed: an order not confirmed or partly shipped (409), a carrier the
    shop is not bound to (400 naming ``carrier``), a SKU the order does not have (400
    naming the line), more units than remain (409 naming the SKU), a tracking number
    already on the road (409 naming ``tracking_number``). ``shop`` scopes the lookup
    (another shop's order is ``Order.DoesNotExist``); staff pass None.
    """
    # the shop's binding to the carrier is read with the order's lock (one round trip)
    orders = Order.objects.select_for_update().annotate(bound_carrier=shop_carrier_bound(carrier))
    if shop is not None:
        orders = orders.filter(shop=shop)
    order = orders.get(pk=order_id)
    if order.status not in SHIPPABLE:
        raise state_machine.refusal(order, S.SHIPPED)
    carrier = shop_carrier_checked(order.bound_carrier, carrier=carrier)
    # the order's lines, kept on it (``order.lines.all()``) for the caller's answer
    prefetch_related_objects([order], LINES_WITH_SHIPPED)
    order_lines = list(order.lines.all())
    taking = _units_taken(order_lines, lines)
    all_left = all(line.quantity - line.shipped == taking.get(line.sku, 0) for line in order_lines)
    target = S.SHIPPED if all_left else S.PARTIALLY_SHIPPED
    moved = order.status != target
    if moved:
        state_machine.transition(order, to=target, actor=str(actor))
    parcel = [line for line in order_lines if taking.get(line.sku)]
    # the parcel, its lines, and the order's latest carrier and number (``Order.carrier``)
    shipment = _parcel_insert(
        order=order,
        carrier=carrier,
        tracking_number=tracking_number,
        service=service,
        actor=str(actor),
        units=[(line, taking[line.sku]) for line in parcel],
    )
    stock_consume(order=order, quantities={line.product_id: taking[line.sku] for line in parcel})
    publish(
        ShipmentDispatched(
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            carrier=carrier,
            tracking_number=tracking_number,
            shipment_id=shipment.id,
            lines=[
                ShippedLine(sku=line.sku, quantity=taking[line.sku], name=line.name)
                for line in parcel
            ],
            service=service,
            status=target.value if moved else "",
            actor=str(actor),
        )
    )
    shipment.order = order
    return shipment


def shipment_facts(shipment: Shipment) -> dict:
    """What a shipment event says of its parcel (its lines prefetched with their lines)."""
    return {
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "shipment_id": shipment.id,
        "service": shipment.service,
        "eta": shipment.eta,
        "lines": [
            ShippedLine(sku=line.sku, quantity=line.quantity, name=line.order_line.name)
            for line in shipment.lines.all()
        ],
    }


def _units_taken(
    order_lines: list[OrderLine], lines: Sequence[ShipmentLineInput] | None
) -> dict[str, int]:
    """SKU -> units the parcel takes: what was asked, or all that remains (``lines`` None)."""
    remaining = {line.sku: line.quantity - line.shipped for line in order_lines}
    if lines is None:
        return {sku: units for sku, units in remaining.items() if units > 0}
    if not lines:
        raise OrderInputError(
            "A parcel holds at least one line.",
            errors=[FieldError(attr="lines", code="empty", detail="Name at least one line.")],
        )
    unknown = [
        FieldError(
            attr=f"lines.{index}.sku",
            code="unknown_sku",
            detail=f"The order has no line with SKU {line.sku!r}.",
        )
        for index, line in enumerate(lines)
        if line.sku not in remaining
    ]
    if unknown:
        raise OrderInputError(
            "; ".join(error.detail for error in unknown) + " Nothing was shipped.",
            errors=unknown,
        )
    taking: dict[str, int] = {}
    for index, line in enumerate(lines):
        if line.sku in taking:
            raise OrderInputError(
                f"SKU {line.sku!r} is on more than one line; name each SKU once.",
                errors=[
                    FieldError(
                        attr=f"lines.{index}.sku",
                        code="duplicate_sku",
                        detail=f"SKU {line.sku!r} is already on another line.",
                    )
                ],
            )
        if line.quantity > remaining[line.sku]:
            raise ShipmentExceedsOrder(
                index=index,
                sku=line.sku,
                requested=line.quantity,
                remaining=remaining[line.sku],
            )
        taking[line.sku] = line.quantity
    return taking


def _parcel_insert(
    *,
    order: Order,
    carrier: str,
    tracking_number: str,
    service: str,
    actor: str,
    units: list[tuple[OrderLine, int]],
) -> Shipment:
    """Insert the parcel and its lines; its number already on the road is a 409 naming the
    field.

    No savepoint (two round trips): the error is never recovered from, it rolls the
    caller's transaction back.
    """
    try:
        with transaction.atomic(savepoint=False):
            return repository.parcel_insert(
                order=order,
                carrier=carrier,
                tracking_number=tracking_number,
                service=service,
                actor=actor,
                units=units,
            )
    except IntegrityError as error:
        if PARCEL_CONSTRAINT not in str(error):
            raise
        raise TrackingNumberInUse(
            f"Tracking number {tracking_number!r} of {carrier} is on another parcel that "
            "is not yet delivered.",
            errors=[
                FieldError(
                    attr="tracking_number",
                    code="tracking_number_in_use",
                    detail="A parcel on the road already has this tracking number.",
                )
            ],
        ) from None
