"""The payments context's reactions to events: each calls one of its own services.

Saga steps, claimed before projections (``Priority.HIGH``).
"""

from django.conf import settings

from orderflow.events import Envelope, Priority, subscriber
from orders.events import OrderCancelled, OrderConfirmed, ShipmentDispatched, StockReserved

from . import services

#: the charge gives up by itself after PAYMENT_MAX_ATTEMPTS; its delivery must last that long
CHARGE_ATTEMPTS = max(settings.PAYMENT_MAX_ATTEMPTS, settings.EVENTS_MAX_ATTEMPTS)


@subscriber(StockReserved, max_attempts=CHARGE_ATTEMPTS, priority=Priority.HIGH)
def charge_on_stock_reserved(event: StockReserved, envelope: Envelope) -> None:
    services.payment_charge(order_id=event.order_id, attempt=envelope.attempt)


@subscriber(ShipmentDispatched, max_attempts=CHARGE_ATTEMPTS, priority=Priority.HIGH)
def capture_on_shipment_dispatched(event: ShipmentDispatched, envelope: Envelope) -> None:
    """The order shipped: capture an authorised payment (a shop capturing on shipment)."""
    services.payment_capture_on_shipment(order_id=event.order_id, attempt=envelope.attempt)


@subscriber(OrderCancelled, priority=Priority.HIGH)
def refund_on_order_cancelled(event: OrderCancelled, envelope: Envelope) -> None:
    services.payment_refund_for_cancelled_order(
        order_id=event.order_id,
        reason=event.reason or "order cancelled",
        attempt=envelope.attempt,
        previous_status=event.previous_status,
    )


@subscriber(OrderConfirmed, priority=Priority.HIGH)
def issue_invoice_on_order_confirmed(event: OrderConfirmed, envelope: Envelope) -> None:
    services.invoice_issue(order_id=event.order_id)


@subscriber(OrderCancelled, priority=Priority.HIGH)
def issue_credit_note_on_order_cancelled(event: OrderCancelled, envelope: Envelope) -> None:
    services.credit_note_issue(order_id=event.order_id, previous_status=event.previous_status)
