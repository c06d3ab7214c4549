"""An order's tracking row, created from the orders context when a reader comes first."""

from uuid import UUID

from orders import interface as orders_interface

from ..models import TrackedOrder


def tracked_order_ensure(*, order_id: UUID) -> TrackedOrder | None:
    """Return the order's tracking row, creating it from the orders context if missing.

    A reader (or an event of another aggregate, or an ``order.placed`` stored before it
    carried the shop's name and the tracking token) may come before the projector records
    the order; the row starts at sequence 0, so the order's own events all apply after.
    """
    tracked = TrackedOrder.objects.filter(pk=order_id).first()
    if tracked is not None:
        return tracked
    return tracked_order_from_details(orders_interface.order_tracking_details(order_id=order_id))


def tracked_order_ensure_for_token(*, token: str) -> TrackedOrder | None:
    """``tracked_order_ensure`` for the order whose tracking token is ``token``, called
    once a read by token found no row (a public page or socket opened before the projector
    recorded the order)."""
    return tracked_order_from_details(orders_interface.order_tracking_details(token=token))


def tracked_order_from_details(
    details: orders_interface.OrderTrackingDetails | None,
) -> TrackedOrder | None:
    """The tracking row of the order ``details`` describe, made from them unless the
    projector (or another reader) made it first; None for None."""
    if details is None:
        return None
    TrackedOrder.objects.bulk_create(
        [
            TrackedOrder(
                order_id=details.order_id,
                shop_id=details.shop_id,
                shop_name=details.shop_name,
                number=details.number,
                customer_name=details.customer_name,
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
                customer_locale=details.customer_locale,
                shop_email=details.shop_email,
                items=[
                    {"sku": sku, "name": name, "quantity": quantity}
                    for sku, name, quantity in details.items
                ],
            )
        ],
        ignore_conflicts=True,
    )
    # the row as stored: the projector's, if it made the row first
    return TrackedOrder.objects.get(pk=details.order_id)
