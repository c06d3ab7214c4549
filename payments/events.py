"""What the payments context publishes: its public contract with the other contexts.

Each event carries what its readers show (the order's number; for an invoice, when it was
issued), so tracking and notifications never ask back. Fields added after an event's
first version have defaults: stored events stay valid without a new version.
"""

from datetime import datetime
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
    order_number: str = ""


@dataclass(frozen=True, kw_only=True)
class PaymentAuthorized(Event):
    """The order's total is authorised and held on the card; it is captured when the order
    ships (the shop captures on shipment). The order confirms on it as on a capture."""

    type: ClassVar[str] = "payment.authorized"
    aggregate: ClassVar[str] = "payment"
    aggregate_id_field: ClassVar[str] = "payment_id"

    payment_id: UUID
    order_id: UUID
    shop_id: int
    amount: Decimal
    currency: str
    authorization_reference: str
    order_number: str = ""


@dataclass(frozen=True, kw_only=True)
class PaymentVoided(Event):
    """An authorisation was released without capture: the order was cancelled before it
    shipped, and nothing was charged."""

    type: ClassVar[str] = "payment.voided"
    aggregate: ClassVar[str] = "payment"
    aggregate_id_field: ClassVar[str] = "payment_id"

    payment_id: UUID
    order_id: UUID
    shop_id: int
    amount: Decimal
    currency: str
    reason: str
    order_number: str = ""


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
    order_number: str = ""


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(Event):
    """Money went back to the customer: the rest of a capture when the order was cancelled,
    or a refund the shop or staff asked for (``on_request``: part or all of it, before or
    after delivery; the customer is e-mailed about those)."""

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
    order_number: str = ""
    #: asked for by the shop or staff (not the cancellation's refund)
    on_request: bool = False
    #: the number of the refund's credit note ("" when it has none: an order cancelled
    #: before it was invoiced, or the cancellation's refund, whose credit note follows)
    credit_note: str = ""
    #: units of the refund's lines put back on hand (``stock.restocked`` follows)
    restocked: bool = False


@dataclass(frozen=True, kw_only=True)
class InvoiceIssued(Event):
    """An invoice or a credit note was issued; it never changes.

    A credit note (``kind``) corrects the invoice numbered ``credits_invoice``: for a
    refund (``refund_id``), or cancelling what is left of it when the order is cancelled.
    """

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
    order_number: str = ""
    #: when the invoice was issued (its date on the document)
    issued_at: datetime | None = None
    #: a credit note's refund (``payment.refunded``'s ``refund_id``); None for an invoice and
    #: for the credit note that cancels the rest of an invoice when its order is cancelled
    refund_id: UUID | None = None
