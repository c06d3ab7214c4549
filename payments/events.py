"""What the payments context publishes: its public contract with the other contexts."""

from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from pydantic.dataclasses import dataclass

from orderflow.events import Event


@dataclass(frozen=True, kw_only=True)
class PaymentCaptured(Event):
    """The order's total was authorised and captured by the gateway."""

    type: ClassVar[str] = "payment.captured"
    aggregate: ClassVar[str] = "payment"
    aggregate_id_field: ClassVar[str] = "payment_id"

    payment_id: UUID
    order_id: UUID
    shop_id: int
    amount: Decimal
    currency: str
    gateway_reference: str


@dataclass(frozen=True, kw_only=True)
class PaymentFailed(Event):
    """The gateway declined the payment, or kept failing; nothing was charged."""

    type: ClassVar[str] = "payment.failed"
    aggregate: ClassVar[str] = "payment"
    aggregate_id_field: ClassVar[str] = "payment_id"

    payment_id: UUID
    order_id: UUID
    shop_id: int
    amount: Decimal
    currency: str
    decline_code: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(Event):
    """Money went back to the customer (the order was cancelled after capture)."""

    type: ClassVar[str] = "payment.refunded"
    aggregate: ClassVar[str] = "payment"
    aggregate_id_field: ClassVar[str] = "payment_id"

    payment_id: UUID
    refund_id: UUID
    order_id: UUID
    shop_id: int
    amount: Decimal
    currency: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class InvoiceIssued(Event):
    """An invoice (or a credit note cancelling one) was issued; it never changes."""

    type: ClassVar[str] = "invoice.issued"
    aggregate: ClassVar[str] = "invoice"
    aggregate_id_field: ClassVar[str] = "invoice_id"

    invoice_id: UUID
    order_id: UUID
    shop_id: int
    number: str
    kind: str
    total: Decimal
    currency: str
    credits_invoice: str | None = None
