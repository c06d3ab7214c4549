"""Tracking's reactions: every order, shipment and payment event becomes a history entry.

Order events (one aggregate, one gap-free sequence) are delivered in sequence order, so
the live status only moves forward; payment and invoice events add to the history.

The history is a projection of events that stay in the outbox, so its transactions
commit without waiting for the disk (``synchronous_commit=False``): one lost in a
PostgreSQL crash is recorded again when its delivery's lease ends.
"""

from orderflow.events import Envelope, subscriber
from orders.events import (
    OrderCancelled,
    OrderConfirmed,
    OrderCustomerChanged,
    OrderPaid,
    OrderPlaced,
    OrderRejected,
    OrderShippingAddressChanged,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    ShipmentInTransit,
    ShipmentOutForDelivery,
    StockReserved,
)
from payments.events import InvoiceIssued, PaymentCaptured, PaymentFailed, PaymentRefunded

from . import services
from .choices import Milestone as M
from .choices import TrackingSource as Source


def _record(envelope: Envelope, **entry) -> None:
    services.tracking_record(entry=services.EntryInput(**entry), envelope=envelope)


# --- the order's own events: ordered, they move the live status ----------------------------
@subscriber(OrderPlaced, ordered=True, synchronous_commit=False)
def record_on_order_placed(event: OrderPlaced, envelope: Envelope) -> None:
    lines = sum(line.quantity for line in event.lines)
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.PLACED,
        order_status="placed",
        source=Source.SHOP,
        note=f"{lines} item{'s' if lines != 1 else ''}, {event.total} {event.currency}",
    )


@subscriber(StockReserved, ordered=True, synchronous_commit=False)
def record_on_stock_reserved(event: StockReserved, envelope: Envelope) -> None:
    _record(envelope, order_id=event.order_id, milestone=M.RESERVED, order_status="reserved")


@subscriber(OrderRejected, ordered=True, synchronous_commit=False)
def record_on_order_rejected(event: OrderRejected, envelope: Envelope) -> None:
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.REJECTED,
        order_status="rejected",
        note=event.reason,
    )


@subscriber(OrderPaid, ordered=True, synchronous_commit=False)
def record_on_order_paid(event: OrderPaid, envelope: Envelope) -> None:
    _record(envelope, order_id=event.order_id, milestone=M.PAID, order_status="paid")


@subscriber(OrderConfirmed, ordered=True, synchronous_commit=False)
def record_on_order_confirmed(event: OrderConfirmed, envelope: Envelope) -> None:
    _record(envelope, order_id=event.order_id, milestone=M.CONFIRMED, order_status="confirmed")


@subscriber(OrderCancelled, ordered=True, synchronous_commit=False)
def record_on_order_cancelled(event: OrderCancelled, envelope: Envelope) -> None:
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.CANCELLED,
        order_status="cancelled",
        source=None,
        note=event.reason,
    )


@subscriber(ShipmentDispatched, ordered=True, synchronous_commit=False)
def record_on_shipment_dispatched(event: ShipmentDispatched, envelope: Envelope) -> None:
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.SHIPPED,
        order_status="shipped",
        source=None,
        note=f"Handed to {event.carrier}, tracking number {event.tracking_number}",
        carrier=event.carrier,
        tracking_number=event.tracking_number,
    )


@subscriber(ShipmentInTransit, ordered=True, synchronous_commit=False)
def record_on_shipment_in_transit(event: ShipmentInTransit, envelope: Envelope) -> None:
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.IN_TRANSIT,
        source=Source.CARRIER,
        note=event.note,
        location=event.location,
    )


@subscriber(ShipmentOutForDelivery, ordered=True, synchronous_commit=False)
def record_on_shipment_out_for_delivery(event: ShipmentOutForDelivery, envelope: Envelope) -> None:
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.OUT_FOR_DELIVERY,
        order_status="out_for_delivery",
        source=None,
    )


@subscriber(ShipmentDeliveryFailed, ordered=True, synchronous_commit=False)
def record_on_shipment_delivery_failed(event: ShipmentDeliveryFailed, envelope: Envelope) -> None:
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.DELIVERY_FAILED,
        source=Source.CARRIER,
        note=event.note,
        location=event.location,
    )


@subscriber(ShipmentDelivered, ordered=True, synchronous_commit=False)
def record_on_shipment_delivered(event: ShipmentDelivered, envelope: Envelope) -> None:
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.DELIVERED,
        order_status="delivered",
        source=None,
    )


@subscriber(OrderShippingAddressChanged, ordered=True, synchronous_commit=False)
def record_on_order_shipping_address_changed(
    event: OrderShippingAddressChanged, envelope: Envelope
) -> None:
    address = event.shipping_address
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.SHIPPING_ADDRESS_CHANGED,
        source=None,
        actor=event.changed_by,
        # staff see the new address; the public page shows a step's note only for carriers
        note=", ".join(
            part
            for part in (
                address.line1,
                address.line2,
                f"{address.postal_code} {address.city}",
                address.region,
                address.country,
            )
            if part
        ),
    )


@subscriber(OrderCustomerChanged, ordered=True, synchronous_commit=False)
def record_on_order_customer_changed(event: OrderCustomerChanged, envelope: Envelope) -> None:
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.CUSTOMER_CHANGED,
        source=None,
        actor=event.changed_by,
        note=f"{event.customer_name} <{event.customer_email}>",
        customer_email=event.customer_email,
    )


# --- money and paperwork: history only, shown to staff --------------------------------------
@subscriber(PaymentCaptured, synchronous_commit=False)
def record_on_payment_captured(event: PaymentCaptured, envelope: Envelope) -> None:
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.PAYMENT_CAPTURED,
        note=f"{event.amount} {event.currency} captured ({event.gateway_reference})",
    )


@subscriber(PaymentFailed, synchronous_commit=False)
def record_on_payment_failed(event: PaymentFailed, envelope: Envelope) -> None:
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.PAYMENT_FAILED,
        note=f"{event.reason} ({event.decline_code})" if event.decline_code else event.reason,
    )


@subscriber(PaymentRefunded, synchronous_commit=False)
def record_on_payment_refunded(event: PaymentRefunded, envelope: Envelope) -> None:
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.PAYMENT_REFUNDED,
        note=f"{event.amount} {event.currency} refunded: {event.reason}",
    )


@subscriber(InvoiceIssued, synchronous_commit=False)
def record_on_invoice_issued(event: InvoiceIssued, envelope: Envelope) -> None:
    credit_note = event.kind == "credit_note"
    _record(
        envelope,
        order_id=event.order_id,
        milestone=M.CREDIT_NOTE_ISSUED if credit_note else M.INVOICE_ISSUED,
        note=f"{'Credit note' if credit_note else 'Invoice'} {event.number}, "
        f"{event.total} {event.currency}",
    )
