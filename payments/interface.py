"""A small read surface of the payments context for the others: plain frozen values only."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from .choices import RefundStatus
from .exceptions import PaymentError
from .models import Invoice, Payment
from .services.refunding import RefundLine, payment_refund


@dataclass(frozen=True)
class RefundSummary:
    amount: Decimal
    status: str
    reason: str
    created_at: datetime
    #: the number of the refund's credit note ("" when it has none)
    credit_note: str = ""
    #: its units went back on hand
    restock: bool = False


@dataclass(frozen=True)
class PaymentSummary:
    payment_id: UUID
    status: str
    amount: Decimal
    refunded_amount: Decimal
    currency: str
    gateway_reference: str
    decline_code: str
    failure_reason: str
    refunds: tuple[RefundSummary, ...]


@dataclass(frozen=True)
class InvoiceSummary:
    invoice_id: UUID
    kind: str
    number: str
    total: Decimal
    currency: str
    issued_at: datetime


def payment_summary_for_order(*, order_id: UUID) -> PaymentSummary | None:
    payment = (
        Payment.objects.prefetch_related("refunds__credit_note").filter(order_id=order_id).first()
    )
    if payment is None:
        return None
    return PaymentSummary(
        payment_id=payment.id,
        status=payment.status,
        amount=payment.amount,
        refunded_amount=payment.refunded_amount,
        currency=payment.currency,
        gateway_reference=payment.gateway_reference,
        decline_code=payment.decline_code,
        failure_reason=payment.failure_reason,
        refunds=tuple(
            RefundSummary(
                amount=r.amount,
                status=r.status,
                reason=r.reason,
                created_at=r.created_at,
                credit_note=r.credit_note.number if hasattr(r, "credit_note") else "",
                restock=r.restock,
            )
            for r in payment.refunds.all()
        ),
    )


def invoices_for_order(*, order_id: UUID) -> tuple[InvoiceSummary, ...]:
    return tuple(
        InvoiceSummary(
            invoice_id=i.id,
            kind=i.kind,
            number=i.number,
            total=i.total,
            currency=i.currency,
            issued_at=i.issued_at,
        )
        for i in Invoice.objects.filter(order_id=order_id).order_by("issued_at")
    )


@dataclass(frozen=True)
class PaymentState:
    """What an order shows of its payment: its status and how much was refunded."""

    status: str
    refunded_amount: Decimal


#: an order whose payment step has not run yet
NO_PAYMENT_YET = PaymentState(status="pending", refunded_amount=Decimal("0.00"))


def payment_states(*, order_ids) -> dict[UUID, PaymentState]:
    """Each order's payment state, in one query (``NO_PAYMENT_YET`` before its payment step)."""
    order_ids = list(order_ids)
    states = dict.fromkeys(order_ids, NO_PAYMENT_YET)
    for order_id, status, refunded in Payment.objects.filter(order_id__in=order_ids).values_list(
        "order_id", "status", "refunded_amount"
    ):
        states[order_id] = PaymentState(status=status, refunded_amount=refunded)
    return states


@dataclass(frozen=True)
class RefundResult:
    """What a refund asked for by another context gave back."""

    refund_id: UUID
    amount: Decimal
    currency: str
    succeeded: bool
    #: the number of the refund's credit note ("" when it has none)
    credit_note: str = ""


class RefundRefused(Exception):
    """The refund was refused (nothing captured, more than is left): ``detail`` says why."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def refund_for_order(
    *,
    order_id: UUID,
    lines: Iterable[tuple[str, int]] = (),
    amount: Decimal | None = None,
    reason: str,
    on_request: bool = True,
) -> RefundResult:
    """Give back ``amount``, or the share of ``lines`` (sku, quantity), of the order's payment.

    The payments context's own refund (``payment_refund``): the payment row locked, the sum
    never past what was captured, ``payment.refunded`` published and the customer e-mailed.
    Runs in the caller's transaction. Raises :class:`RefundRefused` with nothing changed.
    ``on_request`` False when the caller's own event e-mails the customer about it.
    """
    try:
        refund = payment_refund(
            order_id=order_id,
            shop_id=None,
            amount=amount,
            lines=[RefundLine(sku=sku, quantity=quantity) for sku, quantity in lines],
            reason=reason,
            on_request=on_request,
        )
    except PaymentError as error:
        detail = error.errors[0].detail if error.errors else error.detail
        raise RefundRefused(detail) from error
    return RefundResult(
        refund_id=refund.id,
        amount=refund.amount,
        currency=refund.currency,
        succeeded=refund.status == RefundStatus.SUCCEEDED,
        # issued in this transaction, with the refund: the relation is cached, no query
        credit_note=credit_note.number if (credit_note := _credit_note_of(refund)) else "",
    )


def _credit_note_of(refund) -> Invoice | None:
    try:
        return refund.credit_note
    except Invoice.DoesNotExist:  # an order cancelled before it was invoiced
        return None
