"""Pricing an order: discounts, shipping and tax, line by line, rounded per line to the cent.

Pure arithmetic (no database): both intake paths and the tests call :func:`price_order`.
The rules, as docs/pricing.md states them for shops:

- **The basis.** Every amount a shop configures — unit prices, shipping prices, fixed
  discounts, free-shipping thresholds — is in its catalog's basis: tax included when the
  shop's prices include tax (the default, and the only behaviour before taxes per line),
  net of tax otherwise. The order's amounts are in the same basis.
- **Discounts first.** Each code, in the order sent, takes its amount from the lines it
  applies to (all lines, or its SKUs), from what the codes before it left. A percentage is
  rounded per line; a fixed amount (at most what is left) is split over those lines in
  proportion to their amounts, the cents left by rounding going to the largest remainders,
  so the split adds up to the amount exactly. Shipping is never discounted.
- **Tax per line**, on the line's amount after its discount, rounded half-up to the cent:
  ``amount x r / (1 + r)`` when prices include tax, ``amount x r`` (added) when they do not.
  Shipping is taxed the same way at its own class's rate.
- **Totals.** ``subtotal`` is the lines before discounts, ``discount_total`` their discounts,
  ``tax_total`` the lines' and shipping's tax, and
  ``total = subtotal - discount_total + shipping_total (+ tax_total when prices are net)``.
  The per-rate breakdown sums the same rounded amounts, so it always adds up to the totals.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


def cents(amount: Decimal) -> Decimal:
    """``amount`` rounded half-up to the cent (the one rounding rule of pricing)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class PricingLine:
    sku: str
    unit_price: Decimal
    quantity: int
    tax_class: str = "standard"
    weight_grams: int = 0

    @property
    def amount(self) -> Decimal:
        return cents(self.unit_price * self.quantity)


@dataclass(frozen=True)
class DiscountRule:
    """A discount code as pricing applies it; eligibility is checked before (``discounts``)."""

    code: str
    kind: str  # "percentage" or "fixed"
    value: Decimal
    #: the SKUs it applies to; empty: every line
    skus: frozenset[str] = frozenset()

    def applies_to(self, sku: str) -> bool:
        return not self.skus or sku in self.skus


@dataclass(frozen=True)
class ShippingCharge:
    code: str
    name: str
    price: Decimal
    tax_class: str = "standard"


@dataclass(frozen=True)
class PricedLine:
    sku: str
    unit_price: Decimal
    quantity: int
    #: unit price x quantity, before discounts
    amount: Decimal
    discount_amount: Decimal
    #: what the line costs after its discount, in the catalog's basis
    line_total: Decimal
    tax_rate: Decimal
    tax_amount: Decimal


@dataclass(frozen=True)
class TaxBand:
    """The lines and shipping taxed at one rate: their net amount and their tax."""

    rate: Decimal
    net: Decimal
    tax: Decimal

    @property
    def gross(self) -> Decimal:
        return self.net + self.tax


@dataclass(frozen=True)
class AppliedDiscount:
    code: str
    amount: Decimal


@dataclass(frozen=True)
class PricedOrder:
    lines: list[PricedLine]
    prices_include_tax: bool
    subtotal: Decimal
    discount_total: Decimal
    shipping_total: Decimal
    shipping_tax_rate: Decimal
    shipping_tax: Decimal
    tax_total: Decimal
    total: Decimal
    taxes: list[TaxBand]
    discounts: list[AppliedDiscount] = field(default_factory=list)
    shipping_code: str = ""
    shipping_name: str = ""


def tax_of(amount: Decimal, rate: Decimal, *, included: bool) -> Decimal:
    """The tax in (``included``) or on ``amount`` at ``rate``, rounded to the cent."""
    if not rate or not amount:
        return ZERO
    return cents(amount * rate / (1 + rate)) if included else cents(amount * rate)


def split(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``amount`` (cents) in proportion to ``weights``, adding up exactly.

    Largest remainder: every share is rounded down to the cent, then the cents left go one
    each to the shares with the largest remainders (ties: the earlier share).
    """
    whole = sum(weights, ZERO)
    if not whole:
        return [ZERO for _ in weights]
    exact = [amount * weight / whole for weight in weights]
    shares = [share.quantize(CENT, rounding=ROUND_FLOOR) for share in exact]
    left = int((amount - sum(shares, ZERO)) / CENT)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - shares[i]), i))
    for index in by_remainder[:left]:
        shares[index] += CENT
    return shares


def discount_lines(
    lines: Sequence[PricingLine], rules: Sequence[DiscountRule]
) -> tuple[list[Decimal], list[AppliedDiscount]]:
    """Each line's discount, and each code's amount (in the order the codes came)."""
    left = [line.amount for line in lines]
    taken = [ZERO for _ in lines]
    applied = []
    for rule in rules:
        eligible = [i for i, line in enumerate(lines) if rule.applies_to(line.sku) and left[i]]
        if rule.kind == "percentage":
            shares = [min(left[i], cents(left[i] * rule.value / HUNDRED)) for i in eligible]
        else:
            amount = min(rule.value, sum((left[i] for i in eligible), ZERO))
            shares = split(amount, [left[i] for i in eligible])
        for i, share in zip(eligible, shares, strict=True):
            left[i] -= share
            taken[i] += share
        applied.append(AppliedDiscount(code=rule.code, amount=sum(shares, ZERO)))
    return taken, applied


def price_order(
    *,
    lines: Sequence[PricingLine],
    rate_of: Callable[[str], Decimal],
    prices_include_tax: bool = True,
    shipping: ShippingCharge | None = None,
    discounts: Sequence[DiscountRule] = (),
) -> PricedOrder:
    """Price ``lines`` with ``discounts`` and ``shipping``; ``rate_of`` gives a class's rate.

    ``rate_of`` raises for a class without a rate (the caller names it to the shop).
    """
    taken, applied = discount_lines(lines, discounts)
    priced = []
    bands: dict[Decimal, list[Decimal]] = {}

    def book(rate: Decimal, amount: Decimal, tax: Decimal) -> None:
        band = bands.setdefault(rate, [ZERO, ZERO])
        band[0] += amount - tax if prices_include_tax else amount
        band[1] += tax

    for line, discount in zip(lines, taken, strict=True):
        rate = rate_of(line.tax_class)
        line_total = line.amount - discount
        tax = tax_of(line_total, rate, included=prices_include_tax)
        book(rate, line_total, tax)
        priced.append(
            PricedLine(
                sku=line.sku,
                unit_price=line.unit_price,
                quantity=line.quantity,
                amount=line.amount,
                discount_amount=discount,
                line_total=line_total,
                tax_rate=rate,
                tax_amount=tax,
            )
        )
    shipping_total = shipping_rate = shipping_tax = ZERO
    if shipping is not None:
        shipping_total = cents(shipping.price)
        shipping_rate = rate_of(shipping.tax_class)
        shipping_tax = tax_of(shipping_total, shipping_rate, included=prices_include_tax)
        if shipping_total:
            book(shipping_rate, shipping_total, shipping_tax)
    subtotal = sum((line.amount for line in priced), ZERO)
    discount_total = sum(taken, ZERO)
    tax_total = sum((line.tax_amount for line in priced), ZERO) + shipping_tax
    total = subtotal - discount_total + shipping_total
    if not prices_include_tax:
        total += tax_total
    return PricedOrder(
        lines=priced,
        prices_include_tax=prices_include_tax,
        subtotal=subtotal,
        discount_total=discount_total,
        shipping_total=shipping_total,
        shipping_tax_rate=shipping_rate,
        shipping_tax=shipping_tax,
        tax_total=tax_total,
        total=total,
        taxes=[TaxBand(rate=rate, net=net, tax=tax) for rate, (net, tax) in sorted(bands.items())],
        discounts=applied,
        shipping_code=shipping.code if shipping else "",
        shipping_name=shipping.name if shipping else "",
    )
