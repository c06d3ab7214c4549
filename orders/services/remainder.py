"""Cancel what has not shipped of a partly shipped order; what left stays sent.

One transaction, the order row locked first (as every change of the order, a parcel's
included): the units still in the warehouse are each line's quantity less its units in
the order's parcels, summed under that lock, so a parcel and this cancellation queue and
each unit is either shipped or cancelled, never both. The units' stock is released, their
share of the payment given back through the payments context's refund (a refund by lines:
its credit note, tax per rate and ``payment.refunded``; shipping is not refunded: part of
the order was delivered with it), the order moves on to ``shipped`` (or as far as its
parcels are) and ``order.remainder_cancelled`` tells the timeline, the customer's e-mail
and the shop's webhooks. A second request finds nothing left and is refused (409).

Not exported from ``orders.services``: this module calls the payments context's interface,
which reads ``orders.interface`` (as ``returns`` does).
"""

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from orderflow.events import publish
from payments import interface as payments

from .. import state_machine
from ..choices import ORDER_STATUS_WORDS, ShipmentStatus
from ..choices import OrderStatus as S
from ..events import CancelledLine, OrderRemainderCancelled
from ..exceptions import (
    RemainderNotCancellable,
    RemainderPaymentPending,
    RemainderRefundDeclined,
    RemainderRefundRefused,
)
from ..models import Order, OrderLine, Shipment, Shop
from .shops import Actor
from .stock import stock_release

REASON_MAX_LENGTH = 500
#: payment statuses with captured money left to give back
_REFUNDABLE = frozenset({"captured", "partially_refunded"})
#: payment statuses of a capture still to come (capture on shipment, its step not run yet)
_CAPTURE_PENDING = frozenset({"pending", "authorized"})


@dataclass(frozen=True)
class RemainderCancellation:
    """What the cancellation did: the order (moved), the lines cancelled, the money back."""

    order: Order
    lines: tuple[CancelledLine, ...]
    refunded_amount: Decimal
    refund_id: UUID | None


def order_cancel_remainder(
    *, order_id: UUID, shop: Shop | None, actor: Actor, reason: str = ""
) -> RemainderCancellation:
    """Cancel the units of a partly shipped order that have not left; refund their share.

    ``shop`` scopes the lookup for a shop's own request (another shop's order is
    ``Order.DoesNotExist``); staff pass None. Refused with nothing changed:
    :class:`RemainderNotCancellable` (409: nothing shipped yet, all of it shipped, or the
    order is over), :class:`RemainderPaymentPending` (409: the capture on shipment has not
    run yet), :class:`RemainderRefundRefused` (409: earlier refunds already gave back these
    units or that money).

    A refund the payment provider declines is a fact: the transaction commits the declined
    refund and its gateway attempt (and nothing else: the order is left as it was), then
    :class:`RemainderRefundDeclined` (the same 409) is raised. Rolling them back would leave
    the next try numbered as this one, under the same gateway key, and the provider replays
    a key's first answer: the decline, for ever.
    """
    cancellation = _cancel_remainder(order_id=order_id, shop=shop, actor=actor, reason=reason)
    if cancellation is None:  # raised once the declined refund is kept (``writes_stand``)
        raise RemainderRefundDeclined(
            _("The payment provider declined the refund; nothing was cancelled. Try again later.")
        )
    return cancellation


@transaction.atomic
def _cancel_remainder(
    *, order_id: UUID, shop: Shop | None, actor: Actor, reason: str
) -> RemainderCancellation | None:
    """The cancellation, in one transaction; None when the provider declined the refund,
    which is then all that the transaction wrote."""
    orders = Order.objects.select_for_update()
    if shop is not None:
        orders = orders.filter(shop=shop)
    order = orders.get(pk=order_id)
    if order.status != S.PARTIALLY_SHIPPED:
        raise _not_cancellable(order)
    waiting = [
        line
        for line in OrderLine.objects.filter(order=order)
        .annotate(shipped=Coalesce(Sum("shipment_lines__quantity"), 0))
        .order_by("id")
        if line.quantity > line.shipped
    ]
    if not waiting:  # a partly shipped order always has units waiting; never guess
        raise _not_cancellable(order)
    lines = tuple(
        CancelledLine(sku=line.sku, quantity=line.quantity - line.shipped, name=line.name)
        for line in waiting
    )
    reason = reason.strip()[:REASON_MAX_LENGTH]
    refund = _refund(order, lines, reason)
    if refund is not None and not refund.succeeded:
        return None
    stock_release(
        order=order, quantities={line.product_id: line.quantity - line.shipped for line in waiting}
    )
    previous = order.status
    state_machine.transition_path(
        order, _path_after(order), actor=str(actor), reason=reason or "Rest of the order cancelled"
    )
    publish(
        OrderRemainderCancelled(
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            lines=list(lines),
            reason=reason,
            refunded_amount=refund.amount if refund else Decimal("0.00"),
            currency=order.currency,
            refund_id=refund.refund_id if refund else None,
            previous_status=previous,
            status=order.status,
            actor=str(actor),
        )
    )
    return RemainderCancellation(
        order=order,
        lines=lines,
        refunded_amount=refund.amount if refund else Decimal("0.00"),
        refund_id=refund.refund_id if refund else None,
    )


def _refund(
    order: Order, lines: tuple[CancelledLine, ...], reason: str
) -> payments.RefundResult | None:
    """Give back the cancelled units' share of the payment; None when nothing is to give.

    A payment failed, voided or refunded in full has nothing left to give back: the units
    are cancelled without a refund. A capture still to come would find nothing captured:
    refused, the caller retries. The refund is the payments context's own, by lines, in
    this transaction (the payment row locked after the order row, as a return's refund);
    one the provider declined is returned as it is (``succeeded`` False).
    """
    state = payments.payment_states(order_ids=[order.id])[order.id]
    if state.status in _CAPTURE_PENDING:
        raise RemainderPaymentPending(
            _(
                "The payment of order %(number)s is still being captured (it is captured "
                "when the first parcel leaves); nothing was cancelled. Try again in a moment."
            )
            % {"number": order.number},
            extra={"payment_status": state.status},
            headers={"Retry-After": "5"},
        )
    if state.status not in _REFUNDABLE:
        return None
    items = ", ".join(f"{line.quantity} x {line.sku}" for line in lines)
    try:
        refund = payments.refund_for_order(
            order_id=order.id,
            lines=[(line.sku, line.quantity) for line in lines],
            reason=f"Not shipped, cancelled: {items}" + (f" ({reason})" if reason else ""),
            on_request=False,
        )
    except payments.RefundRefused as error:
        raise RemainderRefundRefused(
            _(
                "Nothing was cancelled: the refund of the units not shipped was refused "
                "(%(detail)s). Settle the payment with a refund of what is left first; "
                "with nothing left to refund, cancelling the rest only releases its stock."
            )
            % {"detail": error.detail},
            extra={"refund_detail": error.detail},
        ) from None
    return refund


def _path_after(order: Order) -> list[str]:
    """The order's path once nothing waits: shipped, then as far as its parcels are.

    As carrier reports move a shipped order (``shipments._order_follows``): delivered when
    every parcel is, out for delivery when a parcel is out, shipped otherwise (a parcel
    delivered beside one still on the road, or returned to its sender, moves nothing).
    """
    statuses = set(Shipment.objects.filter(order=order).values_list("status", flat=True))
    if statuses == {ShipmentStatus.DELIVERED}:
        return [S.SHIPPED, S.DELIVERED]
    if ShipmentStatus.OUT_FOR_DELIVERY in statuses:
        return [S.SHIPPED, S.OUT_FOR_DELIVERY]
    return [S.SHIPPED]


def _not_cancellable(order: Order) -> RemainderNotCancellable:
    label = ORDER_STATUS_WORDS[order.status]
    if order.status in (S.PLACED, S.RESERVED, S.PAID, S.CONFIRMED):
        cause = "not_shipped"
        detail = _(
            "Order %(number)s is %(status)s: nothing has shipped yet. Cancel the whole "
            "order instead."
        ) % {"number": order.number, "status": label}
    elif order.status in (S.SHIPPED, S.OUT_FOR_DELIVERY, S.DELIVERED):
        cause = "fully_shipped"
        detail = _(
            "Order %(number)s is %(status)s: every unit has left or was cancelled; "
            "nothing is left to cancel. A return or a refund gives money back."
        ) % {"number": order.number, "status": label}
    else:
        cause = "closed"
        detail = _("Order %(number)s is %(status)s; nothing is left to cancel.") % {
            "number": order.number,
            "status": label,
        }
    return RemainderNotCancellable(
        detail,
        extra={
            "order_status": order.status,
            "cause": cause,
            "allowed_actions": state_machine.allowed_actions(order.status),
        },
    )
