"""Invoices and credit notes: gapless numbers per shop and year, immutable once issued.

An invoice gets a credit note per refund (issued in the refund's transaction) and, when
its order is cancelled, one that credits the rest. Credit notes carry negative amounts and
their tax per rate; together they never credit more of a rate (net or tax) than the
invoice charged: each is fitted to what the earlier ones left (:func:`fit_bands`), with
the invoice row locked so that two credit notes of one invoice are fitted one after the
other.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from orderflow.events import publish
from orders.events import OrderStatus
from orders.interface import InvoiceDetails, OrderLineValue, order_invoice_details, order_status

from .. import repository
from ..choices import InvoiceKind, RefundStatus
from ..choices import PaymentStatus as P
from ..events import InvoiceIssued
from ..models import Invoice, Payment, Refund
from ..refund_shares import SHIPPING, Part, Share, Shares, bands_of
from .charging import gateway_key

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


def _line(line: "OrderLineValue | RefundedLine") -> dict[str, Any]:
    """An invoice's line, or a credit note's line of refunded units, as printed."""
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

    The credit note credits what the refunds' credit notes left of the invoice, rate by
    rate, so that all of them together cancel it exactly (its lines are the invoice's: what
    it cancels). Refunds made while the cancelled order had no invoice get their credit
    notes first. None too when the refunds' credit notes left nothing.

    While captured money is still to be given back, it is not issued here: the payment row
    is locked first (as a refund locks it, before the invoice row) and, captured, the
    cancellation's refund issues it in its own transaction once it has given back the rest
    (:func:`payment_refund_for_cancelled_order`). Crediting the rest now would leave a
    shop's refund arriving before that refund nothing to credit: it would have no credit
    note. None then.
    """
    payment = Payment.objects.select_for_update().filter(order_id=order_id).first()
    if payment is not None and payment.status in (P.CAPTURED, P.PARTIALLY_REFUNDED):
        return None
    invoice = repository.invoice_of_order(order_id)
    if invoice is None:
        if previous_status != OrderStatus.CONFIRMED:
            return None
        invoice = _invoice_issue_or_existing(order_id)
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    existing = Invoice.objects.filter(credits=invoice, refund__isnull=True).first()
    if existing is not None:
        return existing
    _credit_refunds_without_a_note(invoice, order_id)
    left = uncredited_bands(invoice)
    if not any(gross for gross, _ in left.values()):
        return None
    credited_discount = sum(
        Invoice.objects.filter(credits=invoice).values_list("discount_total", flat=True),
        Decimal("0.00"),
    )
    credited_shipping = sum(
        Invoice.objects.filter(credits=invoice).values_list("shipping_total", flat=True),
        Decimal("0.00"),
    )
    return _issue_credit_note(
        invoice,
        bands=left,
        lines=invoice.lines,
        shipping_total=invoice.shipping_total + credited_shipping,
        discount_total=invoice.discount_total + credited_discount,
    )


@dataclass(frozen=True)
class RefundedLine:
    """Units of an invoiced line given back, with their share of its amounts.

    ``line_total`` is in the order's price basis (after discount, with tax when prices
    include it), ``gross`` what the customer gets back for them (with tax either way).
    """

    sku: str
    name: str
    unit_price: Decimal
    quantity: int
    discount_amount: Decimal
    line_total: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    gross: Decimal


@transaction.atomic(savepoint=False)
def credit_note_issue_for_refund(
    *,
    refund: Refund,
    order_id: UUID,
    lines: Sequence[RefundedLine] = (),
    bands: dict[Decimal, tuple[Decimal, Decimal]] | None = None,
) -> Invoice | None:
    """Issue the credit note of a refund, in the refund's transaction; None if it has none.

    A refund by ``lines`` credits those lines (their units, discount and tax shares); a
    refund of an amount credits one "Refund" line whose tax per rate is ``bands``, (gross,
    tax) per rate of what it took from each line and the shipping
    (``payments.refund_shares``: the same split that a later refund of lines counts, so
    no tax moves between rates). Either way the bands are fitted to what earlier credit
    notes left (:func:`fit_bands`, a last line of defence: with the shares they already
    fit), so the credit note's total is the refund's amount and no rate is ever credited
    past the invoice's.

    An order not invoiced yet is invoiced first (captured money is a sale; the invoicing
    subscriber then finds it issued); an order cancelled or rejected before it was invoiced
    may never be invoiced: its refund has no credit note now, and gets it when the
    cancellation's credit note is issued, if the order was confirmed after all
    (:func:`credit_note_issue`). None too when earlier credit notes left less than the
    refund to credit.
    """
    invoice = repository.invoice_of_order(order_id)
    if invoice is None:
        if order_status(order_id=order_id) in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            return None
        invoice = _invoice_issue_or_existing(order_id)
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    return _credit_refund(invoice, refund, lines=lines, bands=bands)


def _credit_refund(
    invoice: Invoice,
    refund: Refund,
    *,
    lines: Sequence[RefundedLine],
    bands: dict[Decimal, tuple[Decimal, Decimal]] | None,
) -> Invoice | None:
    """Fit the refund's lines or bands to what is left of the (locked) invoice; issue."""
    left = uncredited_bands(invoice)
    if sum(gross for gross, _ in left.values()) < refund.amount:
        return None
    if lines:
        wanted: dict[Decimal, tuple[Decimal, Decimal]] = {}
        for line in lines:
            gross, tax = wanted.get(line.tax_rate, (Decimal("0.00"), Decimal("0.00")))
            wanted[line.tax_rate] = (gross + line.gross, tax + line.tax_amount)
        printed = [_line(line) for line in lines]
        discount = sum((line.discount_amount for line in lines), Decimal("0.00"))
    else:
        wanted = bands or {}
        printed = [_amount_line(refund.amount, wanted)]
        discount = Decimal("0.00")
    return _issue_credit_note(
        invoice,
        bands=fit_bands(wanted, left, total=refund.amount),
        lines=printed,
        shipping_total=Decimal("0.00"),
        discount_total=discount,
        refund=refund,
    )


def refunds_replayed(order: InvoiceDetails, refunds: Sequence[Refund]) -> Shares:
    """The order's lines and shipping less what ``refunds`` (succeeded, oldest first) gave
    back of each (``payments.refund_shares``)."""
    shares = Shares(_parts_of(order), prices_include_tax=order.prices_include_tax)
    for refund in refunds:
        _take(shares, refund)
    return shares


def refunded_lines(order: InvoiceDetails, taken: Sequence[Share]) -> list[RefundedLine]:
    """A refund of lines' shares as the credit note prints them."""
    ordered = {line.sku: line for line in order.lines}
    return [
        RefundedLine(
            sku=share.key,
            name=ordered[share.key].name,
            unit_price=ordered[share.key].unit_price,
            quantity=share.units,
            discount_amount=share.discount,
            line_total=share.line_total,
            tax_rate=share.rate,
            tax_amount=share.tax,
            gross=share.gross,
        )
        for share in taken
    ]


def _parts_of(order: InvoiceDetails) -> list[Part]:
    incl = order.prices_include_tax
    parts = [
        Part(
            key=line.sku,
            rate=line.tax_rate,
            quantity=line.quantity,
            gross=line.line_total if incl else line.line_total + line.tax_amount,
            tax=line.tax_amount,
            line_total=line.line_total,
            discount=line.discount_amount,
        )
        for line in order.lines
    ]
    if order.shipping_total:
        shipping = order.shipping_total
        parts.append(
            Part(
                key=SHIPPING,
                rate=order.shipping_tax_rate,
                quantity=0,
                gross=shipping if incl else shipping + order.shipping_tax,
                tax=order.shipping_tax,
                line_total=shipping,
                discount=Decimal("0.00"),
            )
        )
    return parts


def _take(shares: Shares, refund: Refund) -> list[Share]:
    if refund.lines:
        return shares.take_lines({line["sku"]: line["quantity"] for line in refund.lines})
    return shares.take_amount(refund.amount)


def _credit_refunds_without_a_note(invoice: Invoice, order_id: UUID) -> None:
    """Issue the credit notes of the order's refunds that have none, oldest first.

    A refund of an order cancelled before its invoice was issued has none (the order
    might never be invoiced); when the invoice is issued after all (its confirmation's
    subscriber, or the cancellation's step for an order cancelled once confirmed), its
    refunds get theirs before the cancellation's credit note credits the rest. The
    cancellation's own refund is the cancellation's credit note. Invoice row locked.
    """
    refunds = list(
        Refund.objects.filter(payment__order_id=order_id, status=RefundStatus.SUCCEEDED)
        .exclude(idempotency_key=gateway_key(order_id, "refund"))
        .select_related("credit_note")
        .order_by("created_at")
    )
    if all(hasattr(refund, "credit_note") for refund in refunds):
        return
    order = order_invoice_details(order_id=order_id)
    shares = Shares(_parts_of(order), prices_include_tax=order.prices_include_tax)
    for refund in refunds:
        taken = _take(shares, refund)
        if not hasattr(refund, "credit_note"):
            if refund.lines:
                _credit_refund(invoice, refund, lines=refunded_lines(order, taken), bands=None)
            else:
                _credit_refund(invoice, refund, lines=(), bands=bands_of(taken))


def _invoice_issue_or_existing(order_id: UUID) -> Invoice:
    """Issue the order's invoice; if the invoicing subscriber issued it meanwhile, take its.

    The savepoint gives the number back when the insert loses the race (no gap).
    """
    try:
        with transaction.atomic():
            return invoice_issue(order_id=order_id)
    except IntegrityError:
        return repository.invoice_of_order(order_id)


def uncredited_bands(invoice: Invoice) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """What the invoice's credit notes have not credited yet: rate -> (gross, tax)."""
    left = {
        Decimal(band["rate"]): (Decimal(band["net"]) + Decimal(band["tax"]), Decimal(band["tax"]))
        for band in invoice.taxes
    }
    for taxes in Invoice.objects.filter(credits=invoice).values_list("taxes", flat=True):
        for band in taxes:  # negative amounts
            rate = Decimal(band["rate"])
            gross, tax = left.get(rate, (Decimal("0.00"), Decimal("0.00")))
            left[rate] = (
                gross + Decimal(band["net"]) + Decimal(band["tax"]),
                tax + Decimal(band["tax"]),
            )
    return left


def fit_bands(
    wanted: dict[Decimal, tuple[Decimal, Decimal]],
    left: dict[Decimal, tuple[Decimal, Decimal]],
    *,
    total: Decimal,
) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """Fit a credit note's (gross, tax) per rate to what is left to credit of each rate.

    Each rate gets what it wants up to what is left of it; what did not fit (earlier
    refunds of amounts credited part of that rate) goes to the other rates with room, in
    rate order, so the bands still add up to ``total``. A rate's tax is what was wanted,
    or the remaining tax in proportion when its gross was cut, kept within what is left of
    the rate's tax and net. ``total`` must not exceed what is left overall.
    """
    gross = {
        rate: min(want, left.get(rate, (Decimal(0), Decimal(0)))[0])
        for rate, (want, _) in wanted.items()
    }
    short = total - sum(gross.values(), Decimal("0.00"))
    for rate in sorted(left):
        if short <= 0:
            break
        room = left[rate][0] - gross.get(rate, Decimal("0.00"))
        if room > 0:
            gross[rate] = gross.get(rate, Decimal("0.00")) + min(room, short)
            short -= min(room, short)
    fitted = {}
    for rate, amount in sorted(gross.items()):
        if not amount:
            continue
        left_gross, left_tax = left[rate]
        want_gross, want_tax = wanted.get(rate, (Decimal("0.00"), Decimal("0.00")))
        if amount == want_gross:
            tax = want_tax
        else:
            tax = (amount * left_tax / left_gross).quantize(CENT, ROUND_HALF_UP)
        tax = max(min(tax, left_tax, amount), amount - (left_gross - left_tax), Decimal("0.00"))
        fitted[rate] = (amount, tax)
    return fitted


def _amount_line(amount: Decimal, bands: dict[Decimal, tuple[Decimal, Decimal]]) -> dict:
    """The one line of a refund of an amount (its tax as split over the rates)."""
    line = {
        "sku": "",
        "name": "Refund",
        "unit_price": str(amount),
        "quantity": 1,
        "discount_amount": "0.00",
        "line_total": str(amount),
        "tax_amount": str(sum((tax for _, tax in bands.values()), Decimal("0.00"))),
    }
    if len(bands) == 1:
        line["tax_rate"] = str(next(iter(bands)))
    return line


def _issue_credit_note(
    invoice: Invoice,
    *,
    bands: dict[Decimal, tuple[Decimal, Decimal]],
    lines: list[dict],
    shipping_total: Decimal,
    discount_total: Decimal,
    refund: Refund | None = None,
) -> Invoice:
    """Number and insert a credit note of ``invoice`` crediting ``bands`` (positive amounts:
    the credit note stores them negated), then publish ``invoice.issued``."""
    taxes = [
        {"rate": str(rate), "net": str(0 - (gross - tax)), "tax": str(0 - tax)}
        for rate, (gross, tax) in sorted(bands.items())
    ]
    year = timezone.now().year
    sequence, number = _next_number(invoice.shop_id, year)
    credit_note = Invoice(
        shop_id=invoice.shop_id,
        order_id=invoice.order_id,
        order_number=invoice.order_number,
        kind=InvoiceKind.CREDIT_NOTE,
        number=number,
        year=year,
        sequence=sequence,
        credits=invoice,
        refund=refund,
        seller=invoice.seller,
        buyer=invoice.buyer,
        lines=lines,
        currency=invoice.currency,
        subtotal=sum((Decimal(band["net"]) for band in taxes), Decimal("0.00")),
        tax_rate=Decimal(taxes[0]["rate"]) if len(taxes) == 1 else None,
        tax=sum((Decimal(band["tax"]) for band in taxes), Decimal("0.00")),
        taxes=taxes,
        shipping_total=-shipping_total,
        discount_total=-discount_total,
        total=0 - sum((gross for gross, _ in bands.values()), Decimal("0.00")),
    )
    repository.invoice_insert(credit_note)
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
            refund_id=invoice.refund_id,
            order_number=invoice.order_number,
            issued_at=invoice.issued_at,
        ),
        sequence=1,
    )
