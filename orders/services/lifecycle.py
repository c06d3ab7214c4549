"""State changes asked for by a shop or staff after placing."""

from uuid import UUID

from django.db import transaction

from orderflow.events import publish

from .. import state_machine
from ..choices import OrderStatus
from ..events import OrderCancelled
from ..models import Order, Shop
from .shops import Actor


@transaction.atomic
def order_cancel(*, order_id: UUID, shop: Shop | None, actor: Actor, reason: str = "") -> Order:
    """Cancel an order that has not shipped yet and publish ``order.cancelled``.

    ``shop`` scopes the lookup for a shop's own request (another shop's order is a 404);
    staff pass None. Stock release and refund react to the event.
    """
    orders = Order.objects.select_for_update()
    if shop is not None:
        orders = orders.filter(shop=shop)
    order = orders.get(pk=order_id)
    previous = order.status
    state_machine.transition(order, to=OrderStatus.CANCELLED, reason=reason)
    publish(
        OrderCancelled(
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            previous_status=previous,
            reason=reason,
            cancelled_by=str(actor),
        )
    )
    return order
