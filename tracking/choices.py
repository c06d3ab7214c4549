from django.db import models


class TrackingSource(models.TextChoices):
    SYSTEM = "system", "System"
    SHOP = "shop", "Shop"
    STAFF = "staff", "Staff"
    CARRIER = "carrier", "Carrier"


class Milestone(models.TextChoices):
    """What a tracking entry records: an order status, or a step beside the status."""

    PLACED = "placed", "Order placed"
    RESERVED = "reserved", "Stock reserved"
    PAID = "paid", "Paid"
    CONFIRMED = "confirmed", "Confirmed"
    PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
    SHIPPED = "shipped", "Shipped"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERY_FAILED = "delivery_failed", "Delivery attempt failed"
    #: the carrier keeps the parcel (for collection, customs, an address problem)
    HELD = "held", "Held by the carrier"
    #: the parcel goes back to the shop
    RETURNED_TO_SENDER = "returned_to_sender", "Returned to sender"
    #: the carrier cancelled the parcel's shipment (its label voided): it never left
    PARCEL_CANCELLED = "parcel_cancelled", "Cancelled by the carrier"
    #: staff handled a parcel's delivery exception: the order leaves that queue
    DELIVERY_ISSUE_RESOLVED = "delivery_issue_resolved", "Delivery exception handled"
    DELIVERED = "delivered", "Delivered"
    #: one parcel of several delivered while the others are still on their way
    PARCEL_DELIVERED = "parcel_delivered", "Parcel delivered"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    #: what had not shipped of a partly shipped order was cancelled (the rest stays sent)
    REMAINDER_CANCELLED = "remainder_cancelled", "Rest of the order cancelled"
    PAYMENT_CAPTURED = "payment_captured", "Payment captured"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    PAYMENT_REFUNDED = "payment_refunded", "Payment refunded"
    INVOICE_ISSUED = "invoice_issued", "Invoice issued"
    CREDIT_NOTE_ISSUED = "credit_note_issued", "Credit note issued"
    SHIPPING_ADDRESS_CHANGED = "shipping_address_changed", "Shipping address changed"
    CUSTOMER_CHANGED = "customer_changed", "Customer details changed"
    RETURN_REQUESTED = "return_requested", "Return requested"
    RETURN_APPROVED = "return_approved", "Return approved"
    RETURN_REJECTED = "return_rejected", "Return rejected"
    RETURN_RECEIVED = "return_received", "Return received"
    RETURN_REFUNDED = "return_refunded", "Return refunded"
    RETURN_CLOSED = "return_closed", "Return closed without refund"
    RESTOCKED = "restocked", "Units back on hand"


#: steps only staff see: money and paperwork
PRIVATE_MILESTONES = frozenset(
    {
        Milestone.PAYMENT_CAPTURED,
        Milestone.PAYMENT_FAILED,
        Milestone.PAYMENT_REFUNDED,
        Milestone.INVOICE_ISSUED,
        Milestone.CREDIT_NOTE_ISSUED,
        Milestone.RESTOCKED,
        Milestone.DELIVERY_ISSUE_RESOLVED,
    }
)
