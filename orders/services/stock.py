"""Stock: hold, release and consume units for an order's lines.

Rows are always touched in product-id order, so two orders sharing products take their
row locks in the same order and cannot deadlock. Holding reads the free units under those
locks and then updates every line in one statement (``orders.repository``); releasing and
consuming are one UPDATE each (``F()`` arithmetic). The CHECK constraints (on hand ≥ 0,
0 ≤ reserved ≤ on hand) are the last line of defence.
"""

from dataclasses import dataclass

from django.db.models import F, OuterRef, QuerySet, Subquery

from .. import repository
from ..models import Order, OrderLine, Product


@dataclass(frozen=True)
class Shortage:
    sku: str
    requested: int
    available: int


def stock_reserve(*, order: Order) -> list[Shortage]:
    """Hold stock for every line, all or nothing; return the shortages (empty if held).

    The order's products are locked first (in id order) and their free units read under
    the lock, so the check holds until the transaction ends: either every line is short
    of nothing and all are held in one update, or nothing is written. No savepoint.
    """
    lines = repository.order_lines_locked(order.pk)
    short = [
        Shortage(sku=sku, requested=quantity, available=max(available, 0))
        for _, sku, quantity, available in lines
        if available < quantity
    ]
    if not short:
        repository.order_stock_hold(order.pk)
    return short


def _locked_products(order: Order) -> QuerySet[Product]:
    """Lock the order's products in id order, like every stock change, and return them.

    One query however many lines: the lock is taken in a SELECT sorted by id, because a
    single UPDATE of many rows would lock them in whatever order the plan reads them.
    """
    products = Product.objects.filter(
        pk__in=OrderLine.objects.filter(order=order).values("product_id")
    )
    # NO KEY: leaves new order lines' foreign-key locks on the products alone (no deadlock)
    list(products.select_for_update(no_key=True).order_by("pk").values_list("pk", flat=True))
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
