"""Invoices and credit notes: gapless numbers per shop and year, immutable once issued."""

from dataclasses import asdict
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from orderflow.events import publish
from orders.events import OrderStatus
from orders.interface import InvoiceDetails, OrderLineValue, order_invoice_details

from .. import repository
from ..choices import InvoiceKind
from ..events import InvoiceIssued
from ..models import Invoice

CENT = Decimal("0.01")


def _next_number(shop_id: int, year: int) -> tuple[int, str]:
    """Take the next number of the shop's year.

    The counter row is incremented in the issuing transaction, so a rolled-back issue
    gives its number back: no gaps, and concurrent issues queue on the row, never share.
    """
    sequence = repository.invoice_sequence_next(shop_id, year)
    return sequence, f"{year}-{sequence:06d}"


def split_tax(total: Decimal, rate: Decimal) -> tuple[Decimal, Decimal]:
    """Split a tax-inclusive total into (net, tax) at one rate."""
    net = (total / (1 + rate)).quantize(CENT)
    return net, total - net


def tax_bands(details: InvoiceDetails) -> list[dict[str, str]]:
    """Net and tax per rate, from the order's rounded line and shipping taxes.

    The order rounded tax per line (``orders.pricing``); the bands add those amounts up,
    so they always add up to the order's tax and total.
    """
    bands: dict[Decimal, list[Decimal]] = {}
    amounts = [(line.tax_rate, line.line_total, line.tax_amount) for line in details.lines]
    if details.shipping_total:
        amounts.append((details.shipping_tax_rate, details.shipping_total, details.shipping_tax))
    for rate, amount, tax in amounts:
        band = bands.setdefault(rate, [Decimal("0.00"), Decimal("0.00")])
        band[0] += amount - tax if details.prices_include_tax else amount
        band[1] += tax
    return [
        {"rate": str(rate), "net": str(net), "tax": str(tax)}
        for rate, (net, tax) in sorted(bands.items())
    ]


def _line(line: OrderLineValue) -> dict[str, Any]:
    return {
        "sku": line.sku,
        "name": line.name,
        "unit_price": str(line.unit_price),
        "quantity": line.quantity,
        "discount_amount": str(line.discount_amount),
        "line_total": str(line.line_total),
        "tax_rate": str(line.tax_rate),
        "tax_amount": str(line.tax_amount),
    }


@transaction.atomic(savepoint=False)
def invoice_issue(*, order_id: UUID) -> Invoice:
    """Issue the order's invoice once (a redelivery returns the existing one).

    Four statements: the existing invoice, the order's facts, the number, the insert
    (``payments.repository``); then the event. No savepoint (see ``payment_charge``).
    """
    existing = repository.invoice_of_order(order_id)
    if existing is not None:
        return existing
    details = order_invoice_details(order_id=order_id)
    taxes = tax_bands(details)
    year = timezone.now().year
    sequence, number = _next_number(details.shop_id, year)
    invoice = Invoice(
        shop_id=details.shop_id,
        order_id=details.order_id,
        order_number=details.order_number,
        kind=InvoiceKind.INVOICE,
        number=number,
        year=year,
        sequence=sequence,
        seller=asdict(details.seller),
        buyer=asdict(details.buyer),
        lines=[_line(line) for line in details.lines],
        currency=details.currency,
        subtotal=sum((Decimal(band["net"]) for band in taxes), Decimal("0.00")),
        tax_rate=Decimal(taxes[0]["rate"]) if len(taxes) == 1 else None,
        tax=details.tax_total,
        taxes=taxes,
        shipping_total=details.shipping_total,
        discount_total=details.discount_total,
        total=details.total,
    )
    repository.invoice_insert(invoice)
    _publish(invoice)
    return invoice


@transaction.atomic(savepoint=False)
def credit_note_issue(*, order_id: UUID, previous_status: str = "") -> Invoice | None:
    """Cancel the order's invoice with a credit note, once; None if it was never invoiced.

    An order cancelled once confirmed is owed an invoice, but ``order.confirmed`` and
    ``order.cancelled`` reach their two subscribers in either order: if the invoice is not
    issued yet it is issued here first, so a cancelled order never keeps an invoice
    without the credit note that cancels it.
    """
    invoice = repository.invoice_of_order(order_id)
    if invoice is None:
        if previous_status != OrderStatus.CONFIRMED:
            return None
        invoice = invoice_issue(order_id=order_id)
    existing = Invoice.objects.filter(credits=invoice).first()
    if existing is not None:
        return existing
    year = timezone.now().year
    sequence, number = _next_number(invoice.shop_id, year)
    credit_note = Invoice.objects.create(
        shop_id=invoice.shop_id,
        order_id=invoice.order_id,
        order_number=invoice.order_number,
        kind=InvoiceKind.CREDIT_NOTE,
        number=number,
        year=year,
        sequence=sequence,
        credits=invoice,
        seller=invoice.seller,
        buyer=invoice.buyer,
        lines=invoice.lines,
        currency=invoice.currency,
        subtotal=-invoice.subtotal,
        tax_rate=invoice.tax_rate,
        tax=-invoice.tax,
        taxes=[
            {**band, "net": str(0 - Decimal(band["net"])), "tax": str(0 - Decimal(band["tax"]))}
            for band in invoice.taxes
        ],
        shipping_total=-invoice.shipping_total,
        discount_total=-invoice.discount_total,
        total=-invoice.total,
    )
    _publish(credit_note)
    return credit_note


def _publish(invoice: Invoice) -> None:
    publish(
        InvoiceIssued(
            invoice_id=invoice.id,
            order_id=invoice.order_id,
            shop_id=invoice.shop_id,
            number=invoice.number,
            kind=invoice.kind,
            total=invoice.total,
            currency=invoice.currency,
            credits_invoice=invoice.credits.number if invoice.credits else None,
            order_number=invoice.order_number,
            issued_at=invoice.issued_at,
        ),
        sequence=1,
    )
