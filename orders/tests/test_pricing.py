"""Pricing arithmetic: the rules of docs/pricing.md, and properties that always hold."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders.pricing import (
    CENT,
    DiscountRule,
    PricingLine,
    ShippingCharge,
    price_order,
    split,
    tax_of,
)

D = Decimal
RATES = {"standard": D("0.2"), "reduced": D("0.055"), "zero": D("0")}


def rate_of(tax_class: str) -> Decimal:
    return RATES[tax_class]


def test_coffee_and_mug_are_taxed_each_at_its_own_rate():
    priced = price_order(
        lines=[
            PricingLine(sku="COFFEE", unit_price=D("10.55"), quantity=2, tax_class="reduced"),
            PricingLine(sku="MUG", unit_price=D("12.00"), quantity=1),
        ],
        rate_of=rate_of,
    )
    coffee, mug = priced.lines
    # prices include tax: 21.10 x 0.055 / 1.055 = 1.10; 12.00 x 0.2 / 1.2 = 2.00
    assert (coffee.tax_rate, coffee.tax_amount) == (D("0.055"), D("1.10"))
    assert (mug.tax_rate, mug.tax_amount) == (D("0.2"), D("2.00"))
    assert priced.tax_total == D("3.10")
    assert priced.total == priced.subtotal == D("33.10")
    assert [(band.rate, band.net, band.tax) for band in priced.taxes] == [
        (D("0.055"), D("20.00"), D("1.10")),
        (D("0.2"), D("10.00"), D("2.00")),
    ]


def test_net_prices_add_tax_on_top():
    priced = price_order(
        lines=[PricingLine(sku="A", unit_price=D("10.00"), quantity=3)],
        rate_of=rate_of,
        prices_include_tax=False,
        shipping=ShippingCharge(code="std", name="Standard", price=D("5.00")),
    )
    assert priced.lines[0].tax_amount == D("6.00")
    assert (priced.shipping_total, priced.shipping_tax) == (D("5.00"), D("1.00"))
    assert priced.tax_total == D("7.00")
    assert priced.total == D("42.00")  # 30 + 5 + 7


def test_a_percentage_code_on_given_skus_takes_only_from_their_lines():
    priced = price_order(
        lines=[
            PricingLine(sku="A", unit_price=D("9.99"), quantity=1),
            PricingLine(sku="B", unit_price=D("20.00"), quantity=1),
        ],
        rate_of=rate_of,
        discounts=[
            DiscountRule(code="B10", kind="percentage", value=D("10"), skus=frozenset({"B"}))
        ],
    )
    assert [line.discount_amount for line in priced.lines] == [D("0"), D("2.00")]
    assert priced.discount_total == D("2.00")
    assert priced.total == D("27.99")
    assert [(d.code, d.amount) for d in priced.discounts] == [("B10", D("2.00"))]


def test_a_fixed_code_is_split_over_the_lines_and_adds_up_to_the_cent():
    priced = price_order(
        lines=[
            PricingLine(sku="A", unit_price=D("1.00"), quantity=1),
            PricingLine(sku="B", unit_price=D("1.00"), quantity=1),
            PricingLine(sku="C", unit_price=D("1.00"), quantity=1),
        ],
        rate_of=rate_of,
        discounts=[DiscountRule(code="TEN", kind="fixed", value=D("1.00"))],
    )
    assert [line.discount_amount for line in priced.lines] == [D("0.34"), D("0.33"), D("0.33")]
    assert priced.discount_total == D("1.00")


def test_a_fixed_code_takes_at_most_what_the_lines_cost():
    priced = price_order(
        lines=[PricingLine(sku="A", unit_price=D("3.00"), quantity=1)],
        rate_of=rate_of,
        discounts=[DiscountRule(code="BIG", kind="fixed", value=D("50.00"))],
        shipping=ShippingCharge(code="std", name="Standard", price=D("4.00")),
    )
    assert priced.discount_total == D("3.00")
    assert priced.total == D("4.00")  # shipping is never discounted


def test_half_a_cent_rounds_up():
    assert tax_of(D("0.25"), D("0.1"), included=False) == D("0.03")  # 0.025


@pytest.mark.parametrize(
    ("amount", "weights", "shares"),
    [
        (D("1.00"), [D("1"), D("1"), D("1")], [D("0.34"), D("0.33"), D("0.33")]),
        (D("0.05"), [D("3"), D("1")], [D("0.04"), D("0.01")]),
        (D("0.00"), [D("5")], [D("0.00")]),
        (D("2.00"), [D("0"), D("0")], [D("0.00"), D("0.00")]),
    ],
)
def test_split(amount, weights, shares):
    assert split(amount, weights) == shares


# --- properties -----------------------------------------------------------------------------
money = st.decimals(min_value=D("0.00"), max_value=D("9999.99"), places=2)
rates = st.sampled_from([D("0"), D("0.055"), D("0.07"), D("0.1"), D("0.2"), D("0.27")])
lines = st.lists(
    st.builds(
        PricingLine,
        sku=st.sampled_from(["A", "B", "C", "D", "E"]),
        unit_price=money,
        quantity=st.integers(min_value=1, max_value=50),
        tax_class=st.sampled_from(["standard", "reduced", "zero", "other"]),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda line: line.sku,
)
discounts = st.lists(
    st.one_of(
        st.builds(
            DiscountRule,
            code=st.just("P"),
            kind=st.just("percentage"),
            value=st.decimals(min_value=D("0.01"), max_value=D("100"), places=2),
            skus=st.frozensets(st.sampled_from(["A", "B", "C"]), max_size=2),
        ),
        st.builds(
            DiscountRule,
            code=st.just("F"),
            kind=st.just("fixed"),
            value=st.decimals(min_value=D("0.01"), max_value=D("500"), places=2),
            skus=st.frozensets(st.sampled_from(["A", "B", "C"]), max_size=2),
        ),
    ),
    max_size=3,
)


@given(
    lines=lines,
    discounts=discounts,
    shipping=st.one_of(st.none(), money),
    include=st.booleans(),
    class_rates=st.fixed_dictionaries(
        {"standard": rates, "reduced": rates, "zero": st.just(D("0")), "other": rates}
    ),
)
def test_totals_always_add_up(lines, discounts, shipping, include, class_rates):
    priced = price_order(
        lines=lines,
        rate_of=class_rates.__getitem__,
        prices_include_tax=include,
        shipping=None
        if shipping is None
        else ShippingCharge(code="s", name="S", price=shipping, tax_class="standard"),
        discounts=discounts,
    )
    # invoice total = lines + shipping - discounts (+ tax when prices are net)
    expected = priced.subtotal - priced.discount_total + priced.shipping_total
    assert priced.total == expected + (0 if include else priced.tax_total)
    # every amount is whole cents, no line goes below zero, discounts add up per line and code
    for line in priced.lines:
        assert line.discount_amount == line.discount_amount.quantize(CENT)
        assert line.tax_amount == line.tax_amount.quantize(CENT)
        assert D(0) <= line.discount_amount <= line.amount
        assert line.line_total == line.amount - line.discount_amount
        assert 0 <= line.tax_amount <= line.line_total or not include
    assert priced.discount_total == sum((d.amount for d in priced.discounts), D(0))
    assert priced.discount_total == sum((line.discount_amount for line in priced.lines), D(0))
    # tax per rate adds up to the tax total, and net + tax per rate to the total
    assert sum((band.tax for band in priced.taxes), D(0)) == priced.tax_total
    assert sum((band.gross for band in priced.taxes), D(0)) == priced.total
    assert len({band.rate for band in priced.taxes}) == len(priced.taxes)


@given(amount=money, weights=st.lists(money, min_size=1, max_size=8))
def test_a_split_adds_up_and_never_exceeds_a_share_by_a_cent(amount, weights):
    shares = split(amount, weights)
    if sum(weights):
        assert sum(shares, D(0)) == amount
        whole = sum(weights)
        for share, weight in zip(shares, weights, strict=True):
            assert abs(share - amount * weight / whole) < CENT
    else:
        assert set(shares) == {D("0.00")}
