"""Order intake: validate against the catalog, price, and save the order with its event."""

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from orderflow.errors import FieldError
from orderflow.events import publish

from ..choices import OrderStatus, PaymentMode
from ..events import OrderPlaced, PlacedLine
from ..exceptions import (
    DiscountAlreadyUsed,
    DiscountExhausted,
    ExternalReferenceTaken,
    OrderInputError,
)
from ..models import (
    Discount,
    DiscountRedemption,
    Order,
    OrderLine,
    Product,
    ShippingMethod,
    Shop,
    TaxRate,
)
from ..pricing import PricedLine, PricedOrder, PricingLine
from . import order_pricing
from .shops import SYSTEM, Actor

MAX_LINES = 100
#: tries at a fresh random order number before a collision is left to fail
NUMBER_ATTEMPTS = 5
NUMBER_CONSTRAINT = "order_unique_shop_number"
#: what a unique violation names when the shop already has an order with the reference
EXTERNAL_REFERENCE_CONSTRAINT = "order_unique_shop_external_reference"
#: what a unique violation names when the customer already used a once-per-customer code
REDEMPTION_CONSTRAINT = "redemption_once_per_customer"
MAX_QUANTITY = 10_000
CENT = Decimal("0.01")

logger = logging.getLogger(__name__)


def _column_max(model, field_name: str) -> Decimal:
    field = model._meta.get_field(field_name)
    return Decimal(10) ** (field.max_digits - field.decimal_places) - CENT


#: the largest line total and order total their columns hold (numeric(14,2)): a price
#: within its own limit times a quantity within its own could exceed them, which was a
#: 500 in PostgreSQL and, in SQLite, a committed order that no query could read back
MAX_LINE_TOTAL = _column_max(OrderLine, "line_total")
MAX_ORDER_TOTAL = _column_max(Order, "total")


@dataclass(frozen=True)
class CustomerInput:
    name: str
    email: str


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int


@dataclass(frozen=True)
class ExternalPayment:
    """A payment the shop took at its own checkout: its reference and the amount taken."""

    reference: str
    amount: Decimal


def mode_of_payment(
    paid_externally: ExternalPayment | None, *, total: Decimal, capture_on_shipment: bool
) -> str:
    """How the order's money is taken; an external payment must be the order's total."""
    if paid_externally is not None:
        if paid_externally.amount != total:
            detail = (
                f"The order comes to {total}; a payment taken elsewhere must be that amount, "
                f"not {paid_externally.amount}."
            )
            raise OrderInputError(
                f"payment.amount: {detail}",
                errors=[FieldError(attr="payment.amount", code="amount_mismatch", detail=detail)],
            )
        return PaymentMode.EXTERNAL
    return PaymentMode.CAPTURE_ON_SHIPMENT if capture_on_shipment else PaymentMode.CHARGE


def order_place(
    *,
    shop: Shop,
    customer: CustomerInput,
    shipping_address: dict,
    lines: Sequence[LineInput],
    payment_token: str = "",
    idempotency_key: str = "",
    actor: Actor | str = SYSTEM,
    external_reference: str = "",
    metadata: Mapping[str, str] | None = None,
    shipping_method: str = "",
    discount_codes: Sequence[str] = (),
    customer_locale: str = "",
    paid_externally: ExternalPayment | None = None,
) -> Order:
    """Place an order priced from the shop's catalog and publish ``order.placed``.

    ``actor`` is who placed it, as transitions record it (``shop-key:<prefix>`` through
    the API, ``staff:<username>`` from the staff page); the event carries it.

    Prices come from the catalog, never from the caller. The order, its lines and its
    outbox row are written in one transaction, in a fixed number of queries however
    many lines there are. ``idempotency_key`` is the client's key for the request, if
    it sent one: the event's envelope carries it, so "one order per key" is checkable.

    Order numbers are random (see ``orders.models``), so two orders of a shop may draw
    the same one; the unique constraint refuses the second, which was a 500. The
    attempt is then rolled back (its own transaction, or its savepoint inside the
    caller's) and made again with a new number, at most ``NUMBER_ATTEMPTS`` times: the
    happy path costs no extra round trip.

    ``external_reference`` (the shop's own id for the order, validated by the caller) is
    unique per shop when not blank. The unique constraint decides, so two parallel orders
    with one reference place one order: the other raises :class:`ExternalReferenceTaken`
    naming the first, with nothing written (no order, no event, so no stock held).
    ``metadata`` is the shop's key-value strings, stored and published as given.

    The order is priced with the shop's settings (``orders.services.order_pricing``): the
    tax rates of the destination, ``shipping_method`` (a code) and ``discount_codes``. A
    code whose last use (or this customer's one use) another order took raises
    :class:`DiscountUnavailable` (409) with nothing written. ``customer_locale`` is what the
    customer reads; blank: the shop's language.

    ``paid_externally`` is a payment the shop took at its own checkout: its amount must be
    the order's total (else a 400 naming ``payment.amount``), and the saga records it
    instead of charging. Otherwise the order is charged with ``payment_token`` at once, or
    authorised and captured when it ships if the shop captures on shipment.
    """
    attempt = 1
    while True:
        try:
            return _order_place_numbered(
                shop=shop,
                number=_new_number(),
                customer=customer,
                shipping_address=shipping_address,
                lines=lines,
                payment_token=payment_token,
                idempotency_key=idempotency_key,
                actor=str(actor),
                external_reference=external_reference,
                metadata=dict(metadata or {}),
                shipping_method=shipping_method,
                discount_codes=list(discount_codes),
                customer_locale=customer_locale,
                paid_externally=paid_externally,
            )
        except IntegrityError as exc:
            if _is_external_reference_collision(exc):
                # the attempt is rolled back (its transaction or savepoint): the first
                # order is committed, since PostgreSQL reports the violation only then
                _raise_reference_taken(shop=shop, reference=external_reference)
            elif _is_number_collision(exc):
                logger.warning("Order number collision in shop %s; retrying", shop.pk)
            else:
                raise
            if attempt >= NUMBER_ATTEMPTS:
                raise
            attempt += 1


def _new_number() -> str:
    return Order._meta.get_field("number").get_default()


def _is_external_reference_collision(exc: IntegrityError) -> bool:
    """Whether ``exc`` is the shop's external reference met a second time."""
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    # PostgreSQL names the constraint; SQLite names the columns in its message
    return constraint == EXTERNAL_REFERENCE_CONSTRAINT or (
        "orders_order.external_reference" in str(exc)
    )


def _raise_reference_taken(*, shop: Shop, reference: str) -> None:
    """Raise :class:`ExternalReferenceTaken` naming the order that holds ``reference``.

    Returns only if no order holds it any more (the first one is gone): the caller tries
    again, and the constraint decides again.
    """
    holder = (
        Order.objects.filter(shop=shop, external_reference=reference)
        .values_list("id", "number")
        .first()
    )
    if holder is not None:
        order_id, number = holder
        raise ExternalReferenceTaken(reference=reference, order_id=order_id, order_number=number)


def _is_number_collision(exc: IntegrityError) -> bool:
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    # PostgreSQL names the constraint; SQLite names the columns in its message
    return constraint == NUMBER_CONSTRAINT or "orders_order.number" in str(exc)


@transaction.atomic
def _order_place_numbered(
    *,
    shop: Shop,
    number: str,
    customer: CustomerInput,
    shipping_address: dict,
    lines: Sequence[LineInput],
    payment_token: str,
    idempotency_key: str,
    actor: str,
    external_reference: str,
    metadata: dict[str, str],
    shipping_method: str,
    discount_codes: Sequence[str],
    customer_locale: str,
    paid_externally: ExternalPayment | None,
) -> Order:
    check_lines(lines)
    country = shipping_address.get("country", "")
    products = {
        p.sku: p
        for p in Product.objects.filter(shop=shop, sku__in=[line.sku for line in lines]).only(
            "id", "sku", "name", "price", "currency", "tax_class", "weight_grams"
        )
    }
    setup = order_pricing.ShopPricing(
        prices_include_tax=shop.prices_include_tax,
        standard_rate=shop.tax_rate,
        rates=order_pricing.rates_for(
            TaxRate.objects.filter(shop=shop, country__in=[country, ""]).values_list(
                "tax_class", "country", "rate"
            ),
            country,
        ),
    )
    # a shop has a few methods: one query finds the one asked for (or the shop's default,
    # when the order names none) and whether there are any
    methods = {
        method.code: method for method in ShippingMethod.objects.filter(shop=shop, active=True)
    }
    if not shipping_method:
        shipping_method = next((m.code for m in methods.values() if m.is_default), "")
    discounts = _discounts(shop=shop, codes=discount_codes, lines=lines, products=products)
    priced = priced_order(
        currency=shop.currency,
        lines=lines,
        products=products,
        setup=setup,
        country=country,
        shipping_code=shipping_method,
        methods=methods,
        shop_has_methods=bool(methods),
        discounts=discounts,
    )
    payment_mode = mode_of_payment(
        paid_externally, total=priced.total, capture_on_shipment=shop.capture_on_shipment
    )
    order = Order.objects.create(
        shop=shop,
        number=number,
        customer_name=customer.name,
        customer_email=customer.email,
        customer_locale=customer_locale or shop.language,
        shipping_address=shipping_address,
        currency=shop.currency,
        payment_token=payment_token,
        payment_mode=payment_mode,
        payment_reference=paid_externally.reference if paid_externally else "",
        external_reference=external_reference,
        metadata=metadata,
        **order_amounts(priced),
    )
    order_lines = OrderLine.objects.bulk_create(
        [
            OrderLine(order=order, product=products[line.sku], **line_fields(line, products))
            for line in priced.lines
        ]
    )
    _known_lines(order, order_lines)
    if discounts:
        _redeem(order=order, discounts=discounts, priced=priced, codes=discount_codes)
    publish(
        placed_event(
            order_id=order.id,
            shop_id=shop.id,
            number=order.number,
            currency=order.currency,
            customer_name=order.customer_name,
            customer_email=order.customer_email,
            customer_locale=order.customer_locale,
            priced=priced,
            products=products,
            actor=actor,
            shop_name=shop.name,
            tracking_token=order.tracking_token,
            external_reference=external_reference,
            metadata=metadata,
            shipping_method=order.shipping_method,
            payment_mode=order.payment_mode,
            shop_email=shop.contact_email,
        ),
        sequence=1,
        idempotency_key=idempotency_key,
    )
    return order


def _discounts(*, shop: Shop, codes: Sequence[str], lines, products) -> list:
    """The discounts ``codes`` name, checked against the order (errors: ``OrderInputError``)."""
    if not codes:
        return []
    found = {
        row.code.lower(): order_pricing.DiscountRow(
            **{f: getattr(row, f) for f in order_pricing.DiscountRow.__dataclass_fields__}
        )
        for row in Discount.objects.annotate(code_lower=Lower("code")).filter(
            shop=shop, code_lower__in=[code.lower() for code in codes]
        )
    }
    pricing_lines = [
        PricingLine(sku=line.sku, unit_price=products[line.sku].price, quantity=line.quantity)
        for line in lines
        if line.sku in products
    ]
    chosen, errors = order_pricing.check_discounts(
        codes=codes, found=found, lines=pricing_lines, now=timezone.now()
    )
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise OrderInputError(f"{first.attr}: {first.detail}{more}", errors=errors)
    return chosen


def _redeem(*, order: Order, discounts, priced: PricedOrder, codes: Sequence[str]) -> None:
    """Take one use of each code, or raise :class:`DiscountUnavailable` and write nothing.

    The conditional increment decides the use limit: two hundred parallel orders for the
    last fifty uses queue on the code's row, and each re-reads ``uses`` when its turn
    comes (READ COMMITTED re-checks the WHERE on the newest row). Codes are taken in id
    order so that two orders naming the same codes in another order cannot deadlock.
    Once-per-customer is the redemption's partial unique index, under the same lock; its
    violation aborts the transaction, which the caller's rollback ends (nothing written).
    """
    index_of = {code.lower(): index for index, code in enumerate(codes)}
    amounts = {applied.code: applied.amount for applied in priced.discounts}
    for row in sorted(discounts, key=lambda row: row.id):
        taken = (
            Discount.objects.filter(pk=row.id, active=True)
            .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
            .update(uses=F("uses") + 1)
        )
        if not taken:
            raise DiscountExhausted(index=index_of[row.code.lower()], code=row.code)
    redemptions = [
        DiscountRedemption(
            discount_id=row.id,
            order=order,
            customer_email=order.customer_email.lower(),
            amount=amounts[row.code],
            once_per_customer=row.once_per_customer,
        )
        for row in discounts
    ]
    try:
        DiscountRedemption.objects.bulk_create(redemptions)
    except IntegrityError as exc:
        diag = getattr(exc.__cause__, "diag", None)
        constraint = getattr(diag, "constraint_name", None)
        if constraint != REDEMPTION_CONSTRAINT and "customer_email" not in str(exc):
            raise
        # PostgreSQL's detail names the key: "Key (discount_id, customer_email)=(12, …)"
        found = re.search(r"=\((\d+),", getattr(diag, "message_detail", None) or "")
        used = next(
            (row for row in discounts if found and row.id == int(found.group(1))),
            next(row for row in discounts if row.once_per_customer),
        )
        raise DiscountAlreadyUsed(index=index_of[used.code.lower()], code=used.code) from None


def order_amounts(priced: PricedOrder) -> dict[str, Any]:
    """The order's columns that pricing decides."""
    return {
        "prices_include_tax": priced.prices_include_tax,
        "subtotal": priced.subtotal,
        "discount_total": priced.discount_total,
        "shipping_method": priced.shipping_code,
        "shipping_method_name": priced.shipping_name,
        "shipping_total": priced.shipping_total,
        "shipping_tax_rate": priced.shipping_tax_rate,
        "shipping_tax": priced.shipping_tax,
        "tax_total": priced.tax_total,
        "total": priced.total,
        "discounts": [
            {"code": applied.code, "amount": str(applied.amount)} for applied in priced.discounts
        ],
    }


def line_fields(line: PricedLine, products: Mapping[str, Any]) -> dict[str, Any]:
    """An order line's columns (but its order and product) from its priced line."""
    product = products[line.sku]
    return {
        "sku": product.sku,
        "name": product.name,
        "unit_price": line.unit_price,
        "quantity": line.quantity,
        "discount_amount": line.discount_amount,
        "line_total": line.line_total,
        "tax_rate": line.tax_rate,
        "tax_amount": line.tax_amount,
    }


def placed_event(
    *,
    order_id,
    shop_id: int,
    number: str,
    currency: str,
    customer_name: str,
    customer_email: str,
    priced: PricedOrder,
    products: Mapping[str, Any],
    actor: str,
    shop_name: str,
    tracking_token: str,
    external_reference: str = "",
    metadata: Mapping[str, str] | None = None,
    customer_locale: str = "",
    shipping_method: str = "",
    payment_mode: str = PaymentMode.CHARGE,
    shop_email: str = "",
) -> OrderPlaced:
    """The ``order.placed`` event of a new order, on every intake path alike."""
    return OrderPlaced(
        status=OrderStatus.PLACED.value,
        actor=actor,
        shop_name=shop_name,
        tracking_token=tracking_token,
        order_id=order_id,
        shop_id=shop_id,
        number=number,
        currency=currency,
        subtotal=priced.subtotal,
        discount_total=priced.discount_total,
        shipping_method=shipping_method,
        shipping_total=priced.shipping_total,
        tax_total=priced.tax_total,
        total=priced.total,
        prices_include_tax=priced.prices_include_tax,
        customer_name=customer_name,
        customer_email=customer_email,
        customer_locale=customer_locale,
        external_reference=external_reference,
        metadata=dict(metadata or {}),
        discount_codes=[applied.code for applied in priced.discounts],
        payment_mode=payment_mode,
        shop_email=shop_email,
        lines=[
            PlacedLine(
                product_id=products[line.sku].id,
                sku=line.sku,
                name=products[line.sku].name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_amount=line.discount_amount,
                line_total=line.line_total,
                tax_rate=line.tax_rate,
                tax_amount=line.tax_amount,
            )
            for line in priced.lines
        ],
    )


def priced_order(
    *, currency: str, lines: Sequence[LineInput], products: Mapping[str, Any], **settings
) -> PricedOrder:
    """Check ``lines`` against the catalog rows found and price them with the shop's settings.

    ``products`` maps SKU to a catalog row (``id``, ``sku``, ``name``, ``price``,
    ``currency``, ``tax_class``, ``weight_grams``): a ``Product`` on the ORM path, a row of
    the lean intake's read. ``settings`` are :func:`order_pricing.price`'s. Raises
    :class:`OrderInputError` naming each field at fault. ``check_lines`` comes first, as
    its own step, on both paths.
    """
    _check_catalog(currency, lines, products)
    priced = order_pricing.price(lines=lines, products=products, **settings)
    _check_totals(priced)
    return priced


def _known_lines(order: Order, order_lines: list[OrderLine]) -> None:
    """Hand the caller the order with its lines, so that ``order.lines.all()`` reads none back.

    The lines were just inserted in one statement, in id order (``OrderLine``'s ordering),
    with their ids returned: they are exactly what the query would return. Django has no
    public way to seed a relation's cache; this is what ``prefetch_related`` itself fills.
    """
    lines = order.lines.all()
    lines._result_cache = order_lines
    lines._prefetch_done = True
    order._prefetched_objects_cache = {OrderLine.order.field.remote_field.cache_name: lines}


def check_lines(lines: Sequence[LineInput]) -> None:
    if not lines:
        raise OrderInputError(
            "An order needs at least one line.",
            errors=[FieldError(attr="lines", code="empty", detail="Add at least one line.")],
        )
    if len(lines) > MAX_LINES:
        raise OrderInputError(
            f"An order has at most {MAX_LINES} lines.",
            errors=[FieldError(attr="lines", code="max_length", detail=f"At most {MAX_LINES}.")],
        )
    errors = []
    seen: dict[str, int] = {}
    for index, line in enumerate(lines):
        if not 1 <= line.quantity <= MAX_QUANTITY:
            errors.append(
                FieldError(
                    attr=f"lines.{index}.quantity",
                    code="out_of_range",
                    detail=f"Quantity must be between 1 and {MAX_QUANTITY}.",
                )
            )
        if line.sku in seen:
            errors.append(
                FieldError(
                    attr=f"lines.{index}.sku",
                    code="duplicate_sku",
                    detail=f"SKU {line.sku!r} is already on line {seen[line.sku]}; "
                    "send one line per SKU with the total quantity.",
                )
            )
        seen.setdefault(line.sku, index)
    if errors:
        raise OrderInputError(_summary(errors), errors=errors)


def _check_catalog(currency: str, lines: Sequence[LineInput], products: Mapping[str, Any]) -> None:
    errors = []
    for index, line in enumerate(lines):
        product = products.get(line.sku)
        if product is None:
            errors.append(
                FieldError(
                    attr=f"lines.{index}.sku",
                    code="unknown_sku",
                    detail=f"Unknown SKU {line.sku!r}: it is not in this shop's catalog.",
                )
            )
        elif product.currency != currency:
            errors.append(
                FieldError(
                    attr=f"lines.{index}.sku",
                    code="currency_mismatch",
                    detail=f"SKU {line.sku!r} is priced in {product.currency}, the shop sells "
                    f"in {currency}.",
                )
            )
    if errors:
        raise OrderInputError(_summary(errors), errors=errors)


def _check_totals(priced: PricedOrder) -> None:
    errors = [
        FieldError(
            attr=f"lines.{index}.quantity",
            code="line_total_too_large",
            detail=f"{line.quantity} of {line.sku!r} at {line.unit_price} come to "
            f"{line.amount}; a line totals at most {MAX_LINE_TOTAL}.",
        )
        for index, line in enumerate(priced.lines)
        if line.amount > MAX_LINE_TOTAL
    ]
    if not errors and max(priced.total, priced.subtotal) > MAX_ORDER_TOTAL:
        errors.append(
            FieldError(
                attr="lines",
                code="order_total_too_large",
                detail=f"The order comes to {max(priced.total, priced.subtotal)}; an order "
                f"totals at most {MAX_ORDER_TOTAL}.",
            )
        )
    if errors:
        raise OrderInputError(_summary(errors), errors=errors)


def _summary(errors: list[FieldError]) -> str:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first.attr}: {first.detail}{more}"
