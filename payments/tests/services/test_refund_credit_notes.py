"""Each refund is a credit note: its lines or amount, tax per rate, the next gapless number.

And ``restock``: a refund of lines of a shipped order puts the units back on hand, once.
"""

from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.models import OutboxEvent
from orders import services as order_services
from orders.models import Product, StockRestock, TaxRate
from payments.exceptions import RefundInputError
from payments.gateway import SimulatedGateway
from payments.models import Invoice, Payment, Refund
from payments.refund_shares import Part, Shares
from payments.services import (
    RefundLine,
    credit_note_issue,
    invoice_issue,
    payment_refund,
)
from payments.services.invoicing import fit_bands
from testkit.factories import STAFF
from testkit.payments import cancel, captured_order, confirmed_order, settle_cancellation

pytestmark = pytest.mark.django_db

RATES = (Decimal("0.07"), Decimal("0.2"))


@pytest.fixture
def two_rates(shop, products):
    """Coffee at the reduced 7 % (to BR), the mug at the shop's standard 20 %."""
    TaxRate.objects.create(shop=shop, tax_class="reduced", country="BR", rate=Decimal("0.07"))
    Product.objects.filter(pk=products["COFFEE-1KG"].pk).update(tax_class="reduced")
    return products


def _year() -> int:
    return timezone.now().year


def _per_rate(invoices) -> dict[str, tuple[Decimal, Decimal]]:
    """(net, tax) per rate, added up over ``invoices``."""
    total: dict[str, tuple[Decimal, Decimal]] = {}
    for invoice in invoices:
        for band in invoice.taxes:
            net, tax = total.get(band["rate"], (Decimal(0), Decimal(0)))
            total[band["rate"]] = (net + Decimal(band["net"]), tax + Decimal(band["tax"]))
    return total


def _shipped(shop):
    order, payment = confirmed_order(shop)  # COFFEE-1KG x2, MUG x1: 59.70
    invoice_issue(order_id=order.pk)
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number="JD1"
    )
    return order, payment


def test_each_refund_is_a_credit_note_with_the_next_number(shop, two_rates):
    order, _ = confirmed_order(shop)
    invoice = invoice_issue(order_id=order.pk)

    by_line = payment_refund(
        order_id=order.pk, shop_id=shop.pk, lines=[RefundLine(sku="COFFEE-1KG", quantity=1)]
    )
    by_amount = payment_refund(order_id=order.pk, shop_id=shop.pk, amount=Decimal("10.00"))

    notes = list(Invoice.objects.filter(kind="credit_note").order_by("sequence"))
    year = _year()
    assert [(n.number, n.refund_id, n.credits_id) for n in notes] == [
        (f"{year}-000002", by_line.pk, invoice.pk),
        (f"{year}-000003", by_amount.pk, invoice.pk),
    ]
    line_note, amount_note = notes
    # one coffee of two: half the line (24.90 with 7 % tax included: 1.63 of its 3.26)
    assert (line_note.total, line_note.tax, line_note.subtotal) == (
        Decimal("-24.90"),
        Decimal("-1.63"),
        Decimal("-23.27"),
    )
    assert line_note.taxes == [{"rate": "0.0700", "net": "-23.27", "tax": "-1.63"}]
    assert [(line["sku"], line["quantity"], line["tax_amount"]) for line in line_note.lines] == [
        ("COFFEE-1KG", 1, "1.63")
    ]
    # 10.00 over what was left: 24.90 at 7 %, 9.90 at 20 % (34.80): 7.16 and 2.84
    assert amount_note.total == Decimal("-10.00")
    assert amount_note.taxes == [
        {"rate": "0.0700", "net": "-6.69", "tax": "-0.47"},
        {"rate": "0.2000", "net": "-2.37", "tax": "-0.47"},
    ]
    assert [(line["name"], line["line_total"]) for line in amount_note.lines] == [
        ("Refund", "10.00")
    ]
    for note, refund in ((line_note, by_line), (amount_note, by_amount)):
        assert note.total == -refund.amount
        assert sum(Decimal(b["net"]) + Decimal(b["tax"]) for b in note.taxes) == note.total
        assert sum(Decimal(b["tax"]) for b in note.taxes) == note.tax
        assert Refund.objects.get(pk=refund.pk).credit_note == note
    issued = OutboxEvent.objects.get(type="invoice.issued", aggregate_id=str(line_note.pk))
    assert (issued.data["kind"], issued.data["refund_id"], issued.data["credits_invoice"]) == (
        "credit_note",
        str(by_line.pk),
        invoice.number,
    )
    refunded = OutboxEvent.objects.filter(type="payment.refunded").order_by("sequence")
    assert [e.data["credit_note"] for e in refunded] == [line_note.number, amount_note.number]


def test_refunds_and_the_cancellation_credit_the_invoice_exactly_once(shop, two_rates):
    order, _ = confirmed_order(shop)
    invoice = invoice_issue(order_id=order.pk)
    payment_refund(order_id=order.pk, shop_id=shop.pk, amount=Decimal("0.05"))
    payment_refund(order_id=order.pk, shop_id=shop.pk, lines=[RefundLine(sku="MUG", quantity=1)])
    cancel(order)

    cancellation = settle_cancellation(order)

    assert cancellation.is_cancellation
    # 59.70 less the 0.05 and the mug's 9.89 (9.90 less the 0.01 of it the 0.05 took)
    assert cancellation.total == Decimal("-49.76")
    notes = Invoice.objects.filter(kind="credit_note")
    assert sum(n.total for n in notes) == -invoice.total
    invoiced = _per_rate([invoice])
    credited = _per_rate(notes)
    assert {rate: (-net, -tax) for rate, (net, tax) in credited.items()} == invoiced
    # a redelivery of order.cancelled finds it
    assert credit_note_issue(order_id=order.pk, previous_status="confirmed") == cancellation
    assert notes.count() == 3


def test_a_line_refunded_unit_by_unit_adds_up_to_its_total_and_tax(shop, products):
    order, _ = confirmed_order(shop)  # COFFEE-1KG x2 at 24.90, 20 %: 49.80 with 8.30 tax
    invoice_issue(order_id=order.pk)

    first = payment_refund(
        order_id=order.pk, shop_id=shop.pk, lines=[RefundLine(sku="COFFEE-1KG", quantity=1)]
    )
    second = payment_refund(
        order_id=order.pk, shop_id=shop.pk, lines=[RefundLine(sku="COFFEE-1KG", quantity=1)]
    )

    assert first.amount + second.amount == Decimal("49.80")
    notes = Invoice.objects.filter(kind="credit_note")
    assert sum(n.tax for n in notes) == Decimal("-8.30")


def test_an_order_not_invoiced_yet_is_invoiced_before_its_credit_note(shop, products):
    order, _ = captured_order(shop)  # the saga has not confirmed nor invoiced it yet

    refund = payment_refund(order_id=order.pk, shop_id=shop.pk, amount=Decimal("5.00"))

    year = _year()
    assert list(
        Invoice.objects.order_by("sequence").values_list("kind", "number", "total", "refund")
    ) == [
        ("invoice", f"{year}-000001", Decimal("59.70"), None),
        ("credit_note", f"{year}-000002", Decimal("-5.00"), refund.pk),
    ]
    # the invoicing subscriber, when order.confirmed reaches it, finds the invoice issued
    assert invoice_issue(order_id=order.pk).number == f"{year}-000001"
    assert Invoice.objects.count() == 2


def test_an_order_cancelled_before_it_was_invoiced_gets_no_credit_note(shop, products):
    order, _ = captured_order(shop)
    cancel(order)  # its capture is still there: the cancellation's refund has not run

    refund = payment_refund(order_id=order.pk, shop_id=shop.pk, amount=Decimal("5.00"))

    assert refund.status == "succeeded"
    assert not Invoice.objects.exists()
    event = OutboxEvent.objects.get(type="payment.refunded")
    assert event.data["credit_note"] == ""


def test_a_refund_of_shipped_lines_with_restock_puts_the_units_back_once(shop, products):
    order, _ = _shipped(shop)
    assert Product.objects.get(sku="MUG").on_hand == 19

    refund = payment_refund(
        order_id=order.pk,
        shop_id=shop.pk,
        lines=[RefundLine(sku="MUG", quantity=1)],
        restock=True,
        actor="staff:ana",
    )

    assert refund.restock is True
    assert Product.objects.get(sku="MUG").on_hand == 20
    restock = StockRestock.objects.get()
    assert (restock.key, restock.lines) == (f"refund:{refund.pk}", [{"sku": "MUG", "quantity": 1}])
    event = OutboxEvent.objects.get(type="stock.restocked")
    assert (event.data["key"], event.data["actor"]) == (f"refund:{refund.pk}", "staff:ana")
    assert OutboxEvent.objects.get(type="payment.refunded").data["restocked"] is True
    # the coffee, refunded without restock, stays where it is
    payment_refund(
        order_id=order.pk, shop_id=shop.pk, lines=[RefundLine(sku="COFFEE-1KG", quantity=2)]
    )
    assert Product.objects.get(sku="COFFEE-1KG").on_hand == 48
    assert StockRestock.objects.count() == 1


def test_restock_with_an_amount_is_refused_naming_restock(shop, products):
    order, _ = _shipped(shop)

    with pytest.raises(RefundInputError) as refused:
        payment_refund(order_id=order.pk, shop_id=shop.pk, amount=Decimal("5.00"), restock=True)

    assert [(e.attr, e.code) for e in refused.value.errors] == [("restock", "lines_only")]
    assert not Refund.objects.exists()


def test_restock_of_an_order_not_shipped_is_refused_before_any_money_moves(shop, products):
    order, payment = confirmed_order(shop)

    with pytest.raises(RefundInputError) as refused:
        payment_refund(
            order_id=order.pk,
            shop_id=shop.pk,
            lines=[RefundLine(sku="MUG", quantity=1)],
            restock=True,
        )

    assert [(e.attr, e.code) for e in refused.value.errors] == [("restock", "not_shipped")]
    assert not Refund.objects.exists()
    assert SimulatedGateway.effects("refund", f"order-{order.pk}-refund-1") == 0
    assert Payment.objects.get(pk=payment.pk).refunded_amount == 0
    assert not Invoice.objects.exists()


# --- the credit notes' tax per rate: a pure function, checked for any split -------------
cents = st.integers(0, 100_000).map(lambda c: Decimal(c) / 100)


@st.composite
def bands_left(draw):
    left = {}
    for rate in draw(st.sets(st.sampled_from((*RATES, Decimal("0"))), min_size=1)):
        gross = draw(cents)
        tax = (gross * rate / (1 + rate)).quantize(Decimal("0.01"))
        left[rate] = (gross, tax)
    return left


@st.composite
def order_parts(draw):
    """Lines (and maybe shipping) at the rates above, each with its tax rounded per line."""
    parts = []
    for index in range(draw(st.integers(1, 4))):
        rate = draw(st.sampled_from((*RATES, Decimal("0"))))
        gross = draw(cents)
        tax = (gross * rate / (1 + rate)).quantize(Decimal("0.01"))
        parts.append(
            Part(
                key=f"SKU-{index}" if index or not draw(st.booleans()) else "",
                rate=rate,
                quantity=draw(st.integers(1, 5)),
                gross=gross,
                tax=tax,
                line_total=gross,
                discount=Decimal("0.00"),
            )
        )
    return parts


@settings(max_examples=300, deadline=None)
@given(parts=order_parts(), data=st.data())
def test_amounts_are_split_within_what_is_left_of_each_part(parts, data):
    shares = Shares(parts, prices_include_tax=True)
    given_back = {part.key: (Decimal(0), Decimal(0)) for part in parts}
    for _ in range(data.draw(st.integers(1, 4))):
        left = shares.gross_left()
        if not left:
            break
        amount = data.draw(st.integers(1, int(left * 100)).map(lambda c: Decimal(c) / 100))

        taken = shares.take_amount(amount)

        assert sum(share.gross for share in taken) == amount
        for share in taken:
            gross, tax = given_back[share.key]
            given_back[share.key] = (gross + share.gross, tax + share.tax)
        for part in parts:
            gross, tax = given_back[part.key]
            assert 0 <= gross <= part.gross
            assert 0 <= tax <= part.tax
            assert 0 <= gross - tax <= part.gross - part.tax
    rest = shares.take_amount(shares.gross_left())
    for share in rest:
        gross, tax = given_back[share.key]
        given_back[share.key] = (gross + share.gross, tax + share.tax)
    # all of it given back: every part exactly, its tax too
    assert given_back == {part.key: (part.gross, part.tax) for part in parts}


@settings(max_examples=300, deadline=None)
@given(left=bands_left(), data=st.data())
def test_lines_that_do_not_fit_their_rate_spill_over_the_others(left, data):
    total_left = sum(gross for gross, _ in left.values())
    rate = data.draw(st.sampled_from(sorted(left)))
    want = data.draw(cents)
    want_tax = (want * rate / (1 + rate)).quantize(Decimal("0.01"))
    if not 0 < want <= total_left:
        return

    bands = fit_bands({rate: (want, want_tax)}, left, total=want)

    assert sum(gross for gross, _ in bands.values()) == want
    for band_rate, (gross, tax) in bands.items():
        left_gross, left_tax = left[band_rate]
        assert 0 < gross <= left_gross
        assert 0 <= tax <= left_tax
        assert 0 <= gross - tax <= left_gross - left_tax
    if want <= left[rate][0]:
        assert bands == {rate: (want, want_tax)}
