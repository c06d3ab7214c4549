"""Read queries of the payments context for its API, pages and admin."""

from uuid import UUID

from orders.interface import order_payment_request

from .choices import InvoiceKind
from .models import Invoice, Payment, Refund


def invoice_get_for_order(*, order_id: UUID, shop_id: int | None = None) -> Invoice:
    """The order's invoice (raises ``Invoice.DoesNotExist``); scoped to a shop when given."""
    invoices = Invoice.objects.prefetch_related("credit_notes").filter(
        order_id=order_id, kind=InvoiceKind.INVOICE
    )
    if shop_id is not None:
        invoices = invoices.filter(shop_id=shop_id)
    return invoices.get()


def invoice_get(*, invoice_id: UUID) -> Invoice:
    return (
        Invoice.objects.select_related("credits")
        .prefetch_related("credit_notes")
        .get(pk=invoice_id)
    )


def credit_note_of_refund(*, refund_id: UUID) -> Invoice | None:
    return Invoice.objects.filter(refund_id=refund_id).first()


def payment_get_for_order(*, order_id: UUID) -> Payment | None:
    return Payment.objects.prefetch_related("refunds", "attempts").filter(order_id=order_id).first()


def refunds_for_order(*, order_id: UUID, shop_id: int) -> list[Refund]:
    """The order's refunds, newest first (raises ``ObjectDoesNotExist`` for an order that is
    not the shop's)."""
    if order_payment_request(order_id=order_id).shop_id != shop_id:
        raise Payment.DoesNotExist(f"Order {order_id} does not exist.")
    return list(
        Refund.objects.filter(payment__order_id=order_id)
        .select_related("credit_note")
        .order_by("-created_at", "-pk")
    )
