"""Write use cases of the payments context."""

from .charging import payment_capture_on_shipment, payment_charge
from .invoicing import credit_note_issue, invoice_issue
from .refunding import (
    RefundLine,
    payment_refund,
    payment_refund_for_cancelled_order,
    payment_refund_the_rest,
)

__all__ = [
    "RefundLine",
    "credit_note_issue",
    "invoice_issue",
    "payment_capture_on_shipment",
    "payment_charge",
    "payment_refund",
    "payment_refund_for_cancelled_order",
    "payment_refund_the_rest",
]
