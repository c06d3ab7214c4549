"""Stock: hold, release and consume units for an order's lines.

Rows are always touched in product-id order, so two orders sharing products take their
row locks in the same order and cannot deadlock. Each change is one conditional UPDATE
(``F()`` arithmetic, never read-then-write); the CHECK constraints (on hand ≥ 0,
0 ≤ reserved ≤ on hand) are the last line of defence.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, OuterRef, QuerySet, Subquery

from ..models import Order, OrderLine, Product


@dataclass(frozen=True)
class Shortage:
    sku: str
    requested: int
    available: int


class _NotEnoughStock(Exception):
    """Rolls back the partial reservation (a savepoint), never leaves this module."""


def _lines(order: Order) -> list[tuple[int, str, int]]:
    return list(
        OrderLine.objects.filter(order=order)
        .order_by("product_id")
        .values_list("product_id", "sku", "quantity")
    )


def stock_reserve(*, order: Order) -> list[Shortage]:
    """Hold stock for every line, all or nothing; return the shortages (empty if held)."""
    lines = _lines(order)
    short: list[tuple[int, str, int]] = []
    try:
        with transaction.atomic():
            for product_id, sku, quantity in lines:
                held = Product.objects.filter(
                    pk=product_id, on_hand__gte=F("reserved") + quantity
                ).update(reserved=F("reserved") + quantity)
                if not held:
                    short.append((product_id, sku, quantity))
            if short:
                raise _NotEnoughStock
    except _NotEnoughStock:
        pass
    if not short:
        return []
    available = dict(
        Product.objects.filter(pk__in=[product_id for product_id, _, _ in short]).values_list(
            "pk", F("on_hand") - F("reserved")
        )
    )
    return [
        Shortage(sku=sku, requested=quantity, available=max(available.get(product_id, 0), 0))
        for product_id, sku, quantity in short
    ]


def _locked_products(order: Order) -> QuerySet[Product]:
    """Lock the order's products in id order, like every stock change, and return them.

    One query however many lines: the lock is taken in a SELECT sorted by id, because a
    single UPDATE of many rows would lock them in whatever order the plan reads them.
    """
    products = Product.objects.filter(
        pk__in=OrderLine.objects.filter(order=order).values("product_id")
    )
    list(products.select_for_update().order_by("pk").values_list("pk", flat=True))
    return products


def _quantity_on(order: Order) -> Subquery:
    """The order's quantity of the product being updated (one line per product)."""
    return Subquery(
        OrderLine.objects.filter(order=order, product=OuterRef("pk")).values("quantity")[:1]
    )


def stock_release(*, order: Order) -> None:
    """Give back what the order held (it was cancelled before shipping)."""
    _locked_products(order).update(reserved=F("reserved") - _quantity_on(order))


def stock_consume(*, order: Order) -> None:
    """The parcel left: held units leave the warehouse."""
    _locked_products(order).update(
        on_hand=F("on_hand") - _quantity_on(order), reserved=F("reserved") - _quantity_on(order)
    )
