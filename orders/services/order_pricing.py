"""What a shop's settings make of an order: its tax rates, shipping method and discount codes.

Both intake paths read the settings (the ORM path with queries, the lean path in its one
SELECT) and hand them here as plain rows; this module checks the order against them,
naming every field at fault, and prices it with :func:`orders.pricing.price_order`.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from orderflow.errors import FieldError

from ..exceptions import OrderInputError
from ..models.price_rules import STANDARD, ZERO, DiscountKind, ShippingKind
from ..pricing import ZERO as NOTHING
from ..pricing import (
    DiscountRule,
    PricedOrder,
    PricingLine,
    ShippingCharge,
    discount_lines,
    price_order,
)


@dataclass(frozen=True)
class ShopPricing:
    """The shop's pricing settings for one destination country."""

    prices_include_tax: bool
    #: the shop's own rate, for the standard class where no tax rate row names it
    standard_rate: Decimal
    #: tax class -> rate in the destination (a row for the country beats a row for all)
    rates: Mapping[str, Decimal] = field(default_factory=dict)

    def rate_of(self, tax_class: str) -> Decimal | None:
        if tax_class in self.rates:
            return self.rates[tax_class]
        if tax_class == STANDARD:
            return self.standard_rate
        if tax_class == ZERO:
            return NOTHING
        return None


def rates_for(rows: Iterable[tuple[str, str, Decimal]], country: str) -> dict[str, Decimal]:
    """Tax class -> rate in ``country``, from (class, country, rate) rows of a shop."""
    rates: dict[str, Decimal] = {}
    for tax_class, row_country, rate in sorted(rows, key=lambda row: row[1] == country):
        if row_country in ("", country):
            rates[tax_class] = rate  # the country's own row comes last and wins
    return rates


@dataclass(frozen=True)
class MethodRow:
    code: str
    name: str
    kind: str
    price: Decimal
    weight_bands: list
    free_above: Decimal | None
    countries: list
    tax_class: str


@dataclass(frozen=True)
class DiscountRow:
    id: int
    code: str
    kind: str
    value: Decimal
    skus: list
    starts_at: datetime | None
    ends_at: datetime | None
    max_uses: int | None
    uses: int
    once_per_customer: bool
    min_subtotal: Decimal | None
    active: bool


def _shipping(
    *,
    code: str,
    methods: Mapping[str, MethodRow],
    shop_has_methods: bool,
    country: str,
    weight: int,
    goods: Decimal,
    errors: list[FieldError],
) -> ShippingCharge | None:
    if not code:
        if shop_has_methods:
            errors.append(
                FieldError(
                    attr="shipping_method",
                    code="required",
                    detail="This shop ships with shipping methods: name one "
                    "(GET /api/v1/shipping-methods lists them).",
                )
            )
        return None
    method = methods.get(code)
    if method is None:
        errors.append(
            FieldError(
                attr="shipping_method",
                code="unknown_shipping_method",
                detail=f"Unknown shipping method {code!r}: it is not an active method of "
                "this shop.",
            )
        )
        return None
    if method.countries and country not in method.countries:
        errors.append(
            FieldError(
                attr="shipping_address.country",
                code="country_not_served",
                detail=f"Shipping method {code!r} does not ship to {country}; it ships to "
                f"{', '.join(sorted(method.countries))}.",
            )
        )
        return None
    price = method.price
    if method.kind == ShippingKind.WEIGHT:
        band = next(
            (b for b in method.weight_bands if weight <= int(b["up_to_grams"])),
            None,
        )
        if band is None:
            heaviest = max((int(b["up_to_grams"]) for b in method.weight_bands), default=0)
            errors.append(
                FieldError(
                    attr="shipping_method",
                    code="too_heavy",
                    detail=f"The order weighs {weight} g; shipping method {code!r} takes at "
                    f"most {heaviest} g.",
                )
            )
            return None
        price = Decimal(str(band["price"]))
    if method.free_above is not None and goods >= method.free_above:
        price = NOTHING
    return ShippingCharge(
        code=method.code, name=method.name, price=price, tax_class=method.tax_class
    )


def check_discounts(
    *,
    codes: Sequence[str],
    found: Mapping[str, DiscountRow],
    lines: Sequence[PricingLine],
    now: datetime,
) -> tuple[list[DiscountRow], list[FieldError]]:
    """The discounts ``codes`` name (case-insensitive), each checked: (rows, errors).

    The use limit and once-per-customer are the database's to decide, when the order is
    written (``DiscountUnavailable``); a limit already reached is reported here too.
    """
    errors: list[FieldError] = []
    chosen: list[DiscountRow] = []
    seen: set[str] = set()
    subtotal = sum((line.amount for line in lines), NOTHING)
    skus = {line.sku for line in lines}
    for index, code in enumerate(codes):
        attr = f"discount_codes.{index}"

        def fail(error_code: str, detail: str, attr=attr) -> None:
            errors.append(FieldError(attr=attr, code=error_code, detail=detail))

        key = code.lower()
        if key in seen:
            fail("duplicate_discount", f"Discount code {code!r} is named twice.")
            continue
        seen.add(key)
        row = found.get(key)
        if row is None or not row.active:
            fail("unknown_discount", f"Unknown discount code {code!r} in this shop.")
        elif row.starts_at is not None and now < row.starts_at:
            fail("discount_not_started", f"Discount code {code!r} is valid from {row.starts_at}.")
        elif row.ends_at is not None and now >= row.ends_at:
            fail("discount_expired", f"Discount code {code!r} ended at {row.ends_at}.")
        elif row.min_subtotal is not None and subtotal < row.min_subtotal:
            fail(
                "discount_minimum_not_met",
                f"Discount code {code!r} needs a subtotal of at least {row.min_subtotal}; the "
                f"lines come to {subtotal}.",
            )
        elif row.skus and not skus.intersection(row.skus):
            fail(
                "discount_not_applicable",
                f"Discount code {code!r} applies only to {', '.join(sorted(row.skus))}, and "
                "the order has none of them.",
            )
        elif row.max_uses is not None and row.uses >= row.max_uses:
            fail("discount_exhausted", f"Discount code {code!r} has been used up.")
        else:
            chosen.append(row)
    return chosen, errors


def price(
    *,
    lines: Sequence[Any],
    products: Mapping[str, Any],
    setup: ShopPricing,
    country: str,
    shipping_code: str = "",
    methods: Mapping[str, MethodRow] | None = None,
    shop_has_methods: bool = False,
    discounts: Sequence[DiscountRow] = (),
) -> PricedOrder:
    """Price checked ``lines`` (``LineInput``) of catalog ``products`` for ``country``.

    Raises :class:`OrderInputError` naming every field at fault: a tax class without a
    rate in the destination, a shipping method that is unknown, does not serve the
    country or cannot carry the weight.
    """
    pricing_lines = [
        PricingLine(
            sku=line.sku,
            unit_price=products[line.sku].price,
            quantity=line.quantity,
            tax_class=products[line.sku].tax_class,
            weight_grams=products[line.sku].weight_grams,
        )
        for line in lines
    ]
    rules = [
        DiscountRule(
            code=row.code,
            kind=row.kind if row.kind in DiscountKind.values else DiscountKind.FIXED,
            value=row.value,
            skus=frozenset(row.skus),
        )
        for row in discounts
    ]
    errors: list[FieldError] = []
    taken, _ = discount_lines(pricing_lines, rules)
    goods = sum((line.amount for line in pricing_lines), NOTHING) - sum(taken, NOTHING)
    shipping = _shipping(
        code=shipping_code,
        methods=methods or {},
        shop_has_methods=shop_has_methods,
        country=country,
        weight=sum(line.weight_grams * line.quantity for line in pricing_lines),
        goods=goods,
        errors=errors,
    )
    missing = {
        tax_class: index
        for index, tax_class in enumerate(
            [line.tax_class for line in pricing_lines] + ([shipping.tax_class] if shipping else [])
        )
        if setup.rate_of(tax_class) is None
    }
    for tax_class, index in missing.items():
        attr = f"lines.{index}.sku" if index < len(pricing_lines) else "shipping_method"
        errors.append(
            FieldError(
                attr=attr,
                code="tax_rate_missing",
                detail=f"The shop has no tax rate for class {tax_class!r} in {country}: add one "
                "to its tax rates.",
            )
        )
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise OrderInputError(f"{first.attr}: {first.detail}{more}", errors=errors)
    return price_order(
        lines=pricing_lines,
        rate_of=setup.rate_of,
        prices_include_tax=setup.prices_include_tax,
        shipping=shipping,
        discounts=rules,
    )
