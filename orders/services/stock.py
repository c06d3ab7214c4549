"""Stock: hold, release and consume units for an order's lines.

Rows are always touched in product-id order, so two orders sharing products take their
row locks in the same order and cannot deadlock. Each change is one conditional UPDATE
(``F()`` arithmetic, never read-then-write); the CHECK constraints (on hand ≥ 0,
0 ≤ reserved ≤ on hand) are the last line of defence.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

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


def stock_release(*, order: Order) -> None:
    """Give back what the order held (it was cancelled before shipping)."""
    for product_id, _, quantity in _lines(order):
        Product.objects.filter(pk=product_id).update(reserved=F("reserved") - quantity)


def stock_consume(*, order: Order) -> None:
    """The parcel left: held units leave the warehouse."""
    for product_id, _, quantity in _lines(order):
        Product.objects.filter(pk=product_id).update(
            on_hand=F("on_hand") - quantity, reserved=F("reserved") - quantity
        )
