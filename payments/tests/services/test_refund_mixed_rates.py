"""Refunds of amounts and of lines mixed: no tax moves from one rate to another.

An order with coffee at 7 % and a mug at 20 %. A refund of an amount takes its share of
every line; a later refund of the mug gives back what is left of the mug, at the mug's
rate only. For any sequence of such refunds, per rate, what the credit notes credit never
exceeds what the invoice charged, each refund by lines credits only its lines' rates, the
credit notes add up to the refunds, and once everything is refunded they cancel the
invoice exactly, rate by rate.
"""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders import services as order_services
from orders.models import Product, TaxRate
from payments.exceptions import RefundInputError, RefundNotPossible
from payments.models import Invoice, Payment, Refund
from payments.services import RefundLine, invoice_issue, payment_charge, payment_refund
from testkit.factories import order_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_rates(shop, products):
    """Coffee at the reduced 7 % (to BR), the mug at the shop's standard 20 %."""
    TaxRate.objects.create(shop=shop, tax_class="reduced", country="BR", rate=Decimal("0.07"))
    Product.objects.filter(pk=products["COFFEE-1KG"].pk).update(
        tax_class="reduced", on_hand=100_000
    )
    Product.objects.filter(pk=products["MUG"].pk).update(on_hand=100_000)
    return products


def _invoiced(shop, lines: dict[str, int]):
    order = order_in(shop, "reserved", lines=lines)
    payment = payment_charge(order_id=order.pk, attempt=1)
    order_services.order_confirm_payment(
        order_id=order.pk, payment_id=payment.pk, amount=payment.amount, currency=payment.currency
    )
    return order, invoice_issue(order_id=order.pk)


def _bands(note: Invoice) -> dict[str, tuple[Decimal, Decimal]]:
    """A credit note's (net, tax) per rate, as positive amounts."""
    return {b["rate"]: (-Decimal(b["net"]), -Decimal(b["tax"])) for b in note.taxes}


def _line(invoice: Invoice, sku: str) -> dict:
    return next(line for line in invoice.lines if line["sku"] == sku)


def test_a_line_refunded_after_an_amount_gives_back_what_is_left_of_it_at_its_own_rate(
    shop, two_rates
):
    order, invoice = _invoiced(shop, {"COFFEE-1KG": 2, "MUG": 1})  # 49.80 at 7 %, 9.90 at 20 %
    mug = _line(invoice, "MUG")
    assert (mug["line_total"], mug["tax_amount"]) == ("9.90", "1.65")

    payment_refund(order_id=order.pk, shop_id=shop.pk, amount=Decimal("10.00"))
    the_mug = payment_refund(
        order_id=order.pk, shop_id=shop.pk, lines=[RefundLine(sku="MUG", quantity=1)]
    )

    # 10.00 over 49.80 and 9.90: 8.34 of the coffee, 1.66 of the mug (0.28 of its tax)
    amount_note = Invoice.objects.get(refund__amount=Decimal("10.00"))
    assert _bands(amount_note) == {
        "0.0700": (Decimal("7.79"), Decimal("0.55")),
        "0.2000": (Decimal("1.38"), Decimal("0.28")),
    }
    # the mug then gives back what is left of it: 8.24, its tax 1.37, all at 20 %
    assert the_mug.amount == Decimal("8.24")
    mug_note = the_mug.credit_note
    assert _bands(mug_note) == {"0.2000": (Decimal("6.87"), Decimal("1.37"))}
    assert [
        (ln["sku"], ln["quantity"], ln["line_total"], ln["tax_amount"]) for ln in mug_note.lines
    ] == [("MUG", 1, "8.24", "1.37")]
    # 20 %: 1.38 + 6.87 net and 0.28 + 1.37 tax, the invoice's 8.25 and 1.65 exactly
    assert {b["rate"]: (b["net"], b["tax"]) for b in invoice.taxes}["0.2000"] == ("8.25", "1.65")


def _credited(invoice: Invoice) -> dict[str, tuple[Decimal, Decimal]]:
    total: dict[str, tuple[Decimal, Decimal]] = {}
    for note in Invoice.objects.filter(credits=invoice):
        for rate, (net, tax) in _bands(note).items():
            before = total.get(rate, (Decimal(0), Decimal(0)))
            total[rate] = (before[0] + net, before[1] + tax)
    return total


steps = st.lists(
    st.one_of(
        st.tuples(st.just("amount"), st.integers(1, 8000).map(lambda c: Decimal(c) / 100)),
        st.tuples(st.just("lines"), st.sampled_from(["COFFEE-1KG", "MUG"]), st.integers(1, 3)),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    coffees=st.integers(1, 3),
    mugs=st.integers(1, 3),
    steps=steps,
    finish=st.booleans(),
)
def test_any_mix_of_refunds_credits_each_rate_within_the_invoice(
    shop, two_rates, coffees, mugs, steps, finish
):
    order, invoice = _invoiced(shop, {"COFFEE-1KG": coffees, "MUG": mugs})
    rate_of = {line["sku"]: line["tax_rate"] for line in invoice.lines}
    charged = {b["rate"]: (Decimal(b["net"]), Decimal(b["tax"])) for b in invoice.taxes}

    for step in steps:
        try:
            if step[0] == "amount":
                refund = payment_refund(order_id=order.pk, shop_id=shop.pk, amount=step[1])
            else:
                refund = payment_refund(
                    order_id=order.pk,
                    shop_id=shop.pk,
                    lines=[RefundLine(sku=step[1], quantity=step[2])],
                )
        except (RefundInputError, RefundNotPossible):
            continue  # more than is left: refused, nothing changed
        note = refund.credit_note
        assert note.total == -refund.amount
        if step[0] == "lines":
            # a refund of lines credits its lines' rate, with exactly its lines' tax
            assert set(_bands(note)) == {rate_of[step[1]]}, (step, note.taxes)
            [printed] = note.lines
            assert -note.tax == Decimal(printed["tax_amount"])
        for rate, (net, tax) in _credited(invoice).items():
            assert 0 <= net <= charged[rate][0], (rate, net, charged[rate])
            assert 0 <= tax <= charged[rate][1], (rate, tax, charged[rate])

    if finish:
        payment = Payment.objects.get(order_id=order.pk)
        left = payment.amount - payment.refunded_amount
        if left:
            payment_refund(order_id=order.pk, shop_id=shop.pk, amount=left)
        assert _credited(invoice) == charged
    refunds = Refund.objects.filter(payment__order_id=order.pk, status="succeeded")
    notes = Invoice.objects.filter(credits=invoice)
    assert sum(n.total for n in notes) == -sum(r.amount for r in refunds)
