"""Order intake: validate against the catalog, price, and save the order with its event."""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from orderflow.errors import FieldError
from orderflow.events import publish

from ..choices import OrderStatus
from ..events import OrderPlaced, PlacedLine
from ..exceptions import ExternalReferenceTaken, OrderInputError
from ..models import Order, OrderLine, Product, Shop
from .shops import SYSTEM, Actor

MAX_LINES = 100
#: tries at a fresh random order number before a collision is left to fail
NUMBER_ATTEMPTS = 5
NUMBER_CONSTRAINT = "order_unique_shop_number"
#: what a unique violation names when the shop already has an order with the reference
EXTERNAL_REFERENCE_CONSTRAINT = "order_unique_shop_external_reference"
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
) -> Order:
    check_lines(lines)
    products = {
        p.sku: p
        for p in Product.objects.filter(shop=shop, sku__in=[line.sku for line in lines]).only(
            "id", "sku", "name", "price", "currency"
        )
    }
    priced, subtotal = price_lines(currency=shop.currency, lines=lines, products=products)

    order = Order.objects.create(
        shop=shop,
        number=number,
        customer_name=customer.name,
        customer_email=customer.email,
        shipping_address=shipping_address,
        currency=shop.currency,
        subtotal=subtotal,
        total=subtotal,
        payment_token=payment_token,
        external_reference=external_reference,
        metadata=metadata,
    )
    order_lines = OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                product=product,
                sku=product.sku,
                name=product.name,
                unit_price=product.price,
                quantity=line.quantity,
                line_total=line_total,
            )
            for line, product, line_total in priced
        ]
    )
    _known_lines(order, order_lines)
    publish(
        placed_event(
            order_id=order.id,
            shop_id=shop.id,
            number=order.number,
            currency=order.currency,
            subtotal=order.subtotal,
            customer_name=order.customer_name,
            customer_email=order.customer_email,
            priced=priced,
            actor=actor,
            shop_name=shop.name,
            tracking_token=order.tracking_token,
            external_reference=external_reference,
            metadata=metadata,
        ),
        sequence=1,
        idempotency_key=idempotency_key,
    )
    return order


def placed_event(
    *,
    order_id,
    shop_id: int,
    number: str,
    currency: str,
    subtotal: Decimal,
    customer_name: str,
    customer_email: str,
    priced: list[tuple[LineInput, Any, Decimal]],
    actor: str,
    shop_name: str,
    tracking_token: str,
    external_reference: str = "",
    metadata: Mapping[str, str] | None = None,
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
        subtotal=subtotal,
        total=subtotal,
        customer_name=customer_name,
        customer_email=customer_email,
        external_reference=external_reference,
        metadata=dict(metadata or {}),
        lines=[
            PlacedLine(
                product_id=product.id,
                sku=product.sku,
                quantity=line.quantity,
                unit_price=product.price,
            )
            for line, product, _ in priced
        ],
    )


def price_lines(
    *, currency: str, lines: Sequence[LineInput], products: Mapping[str, Any]
) -> tuple[list[tuple[LineInput, Any, Decimal]], Decimal]:
    """Check ``lines`` against the catalog rows found and price them: (priced, subtotal).

    ``products`` maps SKU to a catalog row (``id``, ``sku``, ``name``, ``price``,
    ``currency``): a ``Product`` on the ORM path, a row of the lean intake's read. Raises
    :class:`OrderInputError` naming each line at fault. ``check_lines`` comes first, as
    its own step, on both paths.
    """
    _check_catalog(currency, lines, products)
    priced = []
    for line in lines:
        product = products[line.sku]
        line_total = (product.price * line.quantity).quantize(CENT)
        priced.append((line, product, line_total))
    subtotal = sum((total for _, _, total in priced), Decimal("0.00"))
    _check_totals(priced, subtotal)
    return priced, subtotal


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


def _check_totals(priced: list[tuple[LineInput, Any, Decimal]], subtotal: Decimal) -> None:
    errors = [
        FieldError(
            attr=f"lines.{index}.quantity",
            code="line_total_too_large",
            detail=f"{line.quantity} of {product.sku!r} at {product.price} come to "
            f"{line_total}; a line totals at most {MAX_LINE_TOTAL}.",
        )
        for index, (line, product, line_total) in enumerate(priced)
        if line_total > MAX_LINE_TOTAL
    ]
    if not errors and subtotal > MAX_ORDER_TOTAL:
        errors.append(
            FieldError(
                attr="lines",
                code="order_total_too_large",
                detail=f"The lines total {subtotal}; an order totals at most {MAX_ORDER_TOTAL}.",
            )
        )
    if errors:
        raise OrderInputError(_summary(errors), errors=errors)


def _summary(errors: list[FieldError]) -> str:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first.attr}: {first.detail}{more}"
