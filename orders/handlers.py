"""The orders context's reactions to events: each calls one of its own services.

They are the order saga's steps, so workers claim them before projections
(``Priority.HIGH``): a backlog of tracking and notifications never delays an order.
"""

from orderflow.events import Envelope, Priority, subscriber
from payments.events import PaymentAuthorized, PaymentCaptured, PaymentFailed

from . import services
from .events import OrderPlaced


@subscriber(OrderPlaced, priority=Priority.HIGH)
def reserve_stock_on_order_placed(event: OrderPlaced, envelope: Envelope) -> None:
    services.order_reserve_stock(order_id=event.order_id)


@subscriber(PaymentCaptured, priority=Priority.HIGH)
def confirm_order_on_payment_captured(event: PaymentCaptured, envelope: Envelope) -> None:
    services.order_confirm_payment(
        order_id=event.order_id,
        payment_id=event.payment_id,
        amount=event.amount,
        currency=event.currency,
    )


@subscriber(PaymentAuthorized, priority=Priority.HIGH)
def confirm_order_on_payment_authorized(event: PaymentAuthorized, envelope: Envelope) -> None:
    """Capture on shipment: the authorised total confirms the order as a capture does."""
    services.order_confirm_payment(
        order_id=event.order_id,
        payment_id=event.payment_id,
        amount=event.amount,
        currency=event.currency,
    )


@subscriber(PaymentFailed, priority=Priority.HIGH)
def cancel_order_on_payment_failed(event: PaymentFailed, envelope: Envelope) -> None:
    services.order_fail_payment(order_id=event.order_id, reason=event.reason)
