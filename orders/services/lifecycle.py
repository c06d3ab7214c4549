"""The order's life after placing: the saga's steps and what shops and staff ask for.

Each service locks the order row first (``select_for_update``; the saga's steps through
the prepared statements of ``orders.repository``), so concurrent changes of one order are
serialised; the state machine's conditional update is the second guard. The saga's steps
open no savepoint: they run inside the delivery's transaction (``savepoint=False``), or in
their own when called outside one; a failure rolls back the whole delivery.
Steps reacting to events check the status they expect and do nothing otherwise, which
makes a redelivered or late event harmless.
"""

from decimal import Decimal
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from orderflow.events import publish

from .. import repository, state_machine
from ..choices import OrderStatus as S
from ..choices import ShipmentStatus
from ..events import (
    OrderCancelled,
    OrderConfirmed,
    OrderPaid,
    OrderRejected,
    ShipmentDelivered,
    ShipmentOutForDelivery,
    ShortLine,
    StockReserved,
)
from ..exceptions import RefundNotAllowed
from ..models import Order, Shipment, Shop
from .dispatch import SHIPMENT_LINES, shipment_create, shipment_facts
from .shops import SYSTEM, Actor
from .stock import HOLDING_STOCK, stock_release, stock_reserve

#: statuses in which the order's payment is captured: cancelling the order refunds it
PAID_STATUSES = frozenset({S.PAID, S.CONFIRMED})


def _locked(order_id: UUID, shop: Shop | None = None) -> Order:
    orders = Order.objects.select_for_update()
    if shop is not None:
        orders = orders.filter(shop=shop)
    return orders.get(pk=order_id)


@transaction.atomic(savepoint=False)
def order_reserve_stock(*, order_id: UUID) -> Order:
    """Hold stock for a placed order: ``stock.reserved``, or rejected with the short SKUs."""
    order = repository.order_locked(order_id)
    if order.status != S.PLACED:
        return order  # cancelled before its turn, or a redelivery
    shortages = stock_reserve(order=order)
    if shortages:
        reason = "Not enough stock: " + "; ".join(
            f"{s.sku} ({s.requested} requested, {s.available} available)" for s in shortages
        )
        state_machine.transition(order, to=S.REJECTED, actor=str(SYSTEM), reason=reason)
        publish(
            OrderRejected(
                order_id=order.id,
                shop_id=order.shop_id,
                number=order.number,
                reason=reason,
                short_lines=[
                    ShortLine(sku=s.sku, requested=s.requested, available=s.available)
                    for s in shortages
                ],
                status=S.REJECTED.value,
                actor=str(SYSTEM),
            )
        )
        return order
    state_machine.transition(order, to=S.RESERVED, actor=str(SYSTEM))
    publish(
        StockReserved(
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            total=order.total,
            currency=order.currency,
            status=S.RESERVED.value,
            actor=str(SYSTEM),
        )
    )
    return order


@transaction.atomic(savepoint=False)
def order_confirm_payment(
    *, order_id: UUID, payment_id: UUID, amount: Decimal, currency: str
) -> Order:
    """Payment captured: the order is paid, then confirmed.

    If the order was cancelled meanwhile nothing happens here: the payments context
    refunds a capture for a cancelled order when it handles ``order.cancelled``.
    """
    order = repository.order_locked(order_id)
    if order.status != S.RESERVED:
        return order
    # paid and confirmed in one write (two history rows); each still announced
    state_machine.transition_path(order, [S.PAID, S.CONFIRMED], actor=str(SYSTEM))
    publish(
        OrderPaid(
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            payment_id=payment_id,
            amount=amount,
            currency=currency,
            status=S.PAID.value,
            actor=str(SYSTEM),
        )
    )
    publish(
        OrderConfirmed(
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            total=order.total,
            currency=order.currency,
            customer_name=order.customer_name,
            customer_email=order.customer_email,
            status=S.CONFIRMED.value,
            actor=str(SYSTEM),
            placed_at=order.created_at,
        )
    )
    return order


@transaction.atomic(savepoint=False)
def order_fail_payment(*, order_id: UUID, reason: str) -> Order:
    """Payment failed for good: release the stock and cancel the order."""
    order = repository.order_locked(order_id)
    if order.status != S.RESERVED:
        return order
    return _cancel(order, actor=SYSTEM, reason=f"Payment failed: {reason}")


@transaction.atomic
def order_cancel(
    *,
    order_id: UUID,
    shop: Shop | None,
    actor: Actor,
    reason: str = "",
    refund_allowed: bool = True,
) -> Order:
    """Cancel an order that has not shipped: release its stock, publish ``order.cancelled``.

    ``shop`` scopes the lookup for a shop's own request (another shop's order is a 404);
    staff pass None. A captured payment is refunded by the payments context, so a staff
    member who may not refund passes ``refund_allowed=False``: the status is checked on
    the locked row, and a paid order raises :class:`RefundNotAllowed` with nothing changed,
    even if the payment landed after the page was shown.
    """
    order = _locked(order_id, shop)
    if not refund_allowed and order.status in PAID_STATUSES:
        raise RefundNotAllowed(
            f"Order {order.number} is paid: cancelling it refunds the payment, which your "
            "role may not do. Ask a supervisor."
        )
    return _cancel(order, actor=actor, reason=reason)


def _cancel(order: Order, *, actor: Actor, reason: str) -> Order:
    previous = order.status
    state_machine.transition(order, to=S.CANCELLED, actor=str(actor), reason=reason)
    if previous in HOLDING_STOCK:
        stock_release(order=order)
    publish(
        OrderCancelled(
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            previous_status=previous,
            reason=reason,
            cancelled_by=str(actor),
            status=S.CANCELLED.value,
            actor=str(actor),
        )
    )
    return order


def order_ship(
    *, order_id: UUID, shop: Shop | None, actor: Actor, carrier: str, tracking_number: str
) -> Order:
    """Ship everything that remains in one parcel (``dispatch.shipment_create``, all lines).

    Only a carrier the shop is bound to (400 naming ``carrier``), and only a tracking
    number not already on the road (409 naming ``tracking_number``): the carrier's reports
    find the parcel by the pair alone.
    """
    return shipment_create(
        order_id=order_id,
        shop=shop,
        actor=actor,
        carrier=carrier,
        tracking_number=tracking_number,
    ).order


@transaction.atomic
def order_mark_out_for_delivery(*, order_id: UUID, shop: Shop | None, actor: Actor) -> Order:
    """The carrier is on the way: publish ``shipment.out_for_delivery``."""
    return _advance_shipment(order_id, shop, actor, S.OUT_FOR_DELIVERY, ShipmentOutForDelivery)


@transaction.atomic
def order_deliver(*, order_id: UUID, shop: Shop | None, actor: Actor) -> Order:
    """The customer has the parcel: publish ``shipment.delivered``."""
    return _advance_shipment(order_id, shop, actor, S.DELIVERED, ShipmentDelivered)


#: parcels staff's out-for-delivery and deliver leave as they are
_PARCELS_STAYING = (
    ShipmentStatus.DELIVERED,
    ShipmentStatus.RETURNED_TO_SENDER,
    ShipmentStatus.CANCELLED,
)


def _advance_shipment(
    order_id: UUID,
    shop: Shop | None,
    actor: Actor,
    to: str,
    event_class: type[ShipmentOutForDelivery] | type[ShipmentDelivered],
) -> Order:
    """Move the order, and each of its parcels on the road, to ``to``.

    A parcel delivered, returned to its sender (going back to the shop, never to the
    customer) or cancelled by its carrier (it never left), stays as it is.

    One event per parcel moved, each naming it (the order's status in each); an order
    whose parcels all moved already (none to name) still publishes one, as before
    shipments.
    """
    order = _locked(order_id, shop)
    state_machine.transition(order, to=to, actor=str(actor))
    parcels = list(
        Shipment.objects.filter(order=order)
        .exclude(status__in=(to, *_PARCELS_STAYING))
        .prefetch_related(SHIPMENT_LINES)
    )
    Shipment.objects.filter(pk__in=[parcel.pk for parcel in parcels]).update(
        status=to, updated_at=timezone.now()
    )
    facts = [shipment_facts(parcel) for parcel in parcels] or [
        {"carrier": order.carrier, "tracking_number": order.tracking_number}
    ]
    for parcel in facts:
        publish(
            event_class(
                order_id=order.id,
                shop_id=order.shop_id,
                number=order.number,
                status=S(to).value,
                actor=str(actor),
                **parcel,
            )
        )
    return order
