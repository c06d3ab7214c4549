"""Stock: hold, release and consume units for an order's lines.

Rows are always touched in product-id order, so two orders sharing products take their
row locks in the same order and cannot deadlock. Holding reads the free units under those
locks and then updates every line in one statement (``orders.repository``); releasing and
consuming are one UPDATE each (``F()`` arithmetic). The CHECK constraints (on hand ≥ 0,
0 ≤ reserved ≤ on hand) are the last line of defence.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from django.db import transaction
from django.db.models import (
    Case,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from orderflow.errors import FieldError
from orderflow.events import publish

from .. import repository
from ..choices import OrderStatus
from ..events import RestockedLine, StockRestocked
from ..exceptions import RestockNotPossible
from ..models import Order, OrderLine, Product, ShipmentLine, StockRestock


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


#: statuses in which the order holds reserved stock for all its units
HOLDING_STOCK = frozenset({OrderStatus.RESERVED, OrderStatus.PAID, OrderStatus.CONFIRMED})
#: statuses in which the order holds reserved stock for its units not yet in a parcel
HOLDING_UNSHIPPED = frozenset({OrderStatus.PARTIALLY_SHIPPED})


def held_units() -> Coalesce:
    """The units the open orders hold of the product ``OuterRef("pk")``, to annotate products
    with: every unit of an order holding stock, and the units of a partly shipped order not
    yet in a parcel (the parcels' units were consumed as they left). What ``reserved``
    should read; the reconciliation and the ``orders.stock_balanced`` invariant compare it.
    """

    def units(lines, product: str) -> Coalesce:
        total = lines.values(product).annotate(units=Sum("quantity")).values("units")
        return Coalesce(Subquery(total, output_field=IntegerField()), Value(0))

    ordered = OrderLine.objects.filter(
        product=OuterRef("pk"), order__status__in=HOLDING_STOCK | HOLDING_UNSHIPPED
    )
    shipped = ShipmentLine.objects.filter(
        order_line__product=OuterRef("pk"),
        shipment__order__status__in=HOLDING_UNSHIPPED,
    )
    return units(ordered, "product") - units(shipped, "order_line__product")


def _quantity_on(order: Order) -> Subquery:
    """The order's quantity of the product being updated (one line per product)."""
    return Subquery(
        OrderLine.objects.filter(order=order, product=OuterRef("pk")).values("quantity")[:1]
    )


def stock_release(*, order: Order, quantities: Mapping[int, int] | None = None) -> None:
    """Give back what the order held: all of it (cancelled before shipping), or
    ``quantities`` (product id -> units: the remainder of a partly shipped order)."""
    products = _locked_products(order)
    if quantities is None:
        products.update(reserved=F("reserved") - _quantity_on(order))
        return
    products.filter(pk__in=list(quantities)).update(
        reserved=F("reserved")
        - Case(
            *(When(pk=pk, then=Value(units)) for pk, units in quantities.items()),
            output_field=IntegerField(),
        )
    )


def stock_consume(*, order: Order, quantities: Mapping[int, int] | None = None) -> None:
    """A parcel left: its held units leave the warehouse.

    ``quantities`` (product id -> units) is what one parcel of a split shipment takes;
    None is every line's quantity (the whole order in one parcel). Either way one UPDATE
    after the products are locked in id order.
    """
    products = _locked_products(order)
    if quantities is None:
        taken = _quantity_on(order)
    else:
        products = products.filter(pk__in=list(quantities))
        taken = Case(
            *(When(pk=pk, then=Value(units)) for pk, units in quantities.items()),
            output_field=IntegerField(),
        )
    products.update(on_hand=F("on_hand") - taken, reserved=F("reserved") - taken)


def stock_restockable(*, order: Order) -> dict[str, int]:
    """Units of each of the order's lines that may still go back on hand (SKU -> units).

    Only units that left the warehouse come back: the units of the order's parcels (stock
    is consumed per parcel, so a partly shipped order restocks what its parcels took),
    less what earlier restocks put back; nothing of an order that has not shipped (its
    units are still held for it, or were released on cancellation).
    """
    left: dict[str, int] = {}
    for sku, units in ShipmentLine.objects.filter(shipment__order=order).values_list(
        "sku", "quantity"
    ):
        left[sku] = left.get(sku, 0) + units
    if not left:
        return {}
    for restocked in StockRestock.objects.filter(order=order).values_list("lines", flat=True):
        for line in restocked:
            left[line["sku"]] = left.get(line["sku"], 0) - line["quantity"]
    return left


def stock_restock_check(*, order: Order, lines: Mapping[str, int]) -> None:
    """Raise :class:`RestockNotPossible` naming each line that may not go back on hand."""
    left = stock_restockable(order=order)
    if not left:
        detail = _(
            "Order %(number)s has not shipped: its units are still in the warehouse, "
            "nothing can go back on hand."
        ) % {"number": order.number}
        error = FieldError("restock", "not_shipped", detail)
        raise RestockNotPossible(f"restock: {detail}", errors=[error])
    errors = []
    for index, (sku, quantity) in enumerate(lines.items()):
        if quantity > left.get(sku, 0):
            errors.append(
                FieldError(
                    f"lines.{index}.quantity",
                    "exceeds_restockable",
                    _(
                        "%(left)s %(sku)s of order %(number)s may still go back on hand, "
                        "not %(asked)s."
                    )
                    % {
                        "left": max(left.get(sku, 0), 0),
                        "sku": sku,
                        "number": order.number,
                        "asked": quantity,
                    },
                )
            )
    if errors:
        raise RestockNotPossible("; ".join(f"{e.attr}: {e.detail}" for e in errors), errors=errors)


@transaction.atomic
def stock_restock(*, order_id: UUID, lines: Mapping[str, int], key: str, actor: str) -> bool:
    """Put units of a shipped order's lines (SKU -> units) back on hand, once per ``key``.

    ``key`` names what restocks (``refund:<id>``, ``return:<id>``): a retry or a replay
    with a key already used changes nothing and returns False; a first restock returns
    True and publishes ``stock.restocked``. The order row is locked first, then its
    products in id order (as every stock change locks them), so two restocks of one order
    queue and never put back more units of a line than left the warehouse. Raises
    ``Order.DoesNotExist`` or :class:`RestockNotPossible` with nothing changed.
    """
    order = Order.objects.select_for_update().get(pk=order_id)
    if StockRestock.objects.filter(key=key).exists():
        return False
    stock_restock_check(order=order, lines=lines)
    wanted = {sku: units for sku, units in lines.items() if units > 0}
    StockRestock.objects.create(
        order=order,
        key=key,
        lines=[{"sku": sku, "quantity": units} for sku, units in wanted.items()],
    )
    products = dict(
        OrderLine.objects.filter(order=order, sku__in=list(wanted)).values_list("sku", "product_id")
    )
    ids = sorted(products.values())
    list(Product.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk"))
    Product.objects.filter(pk__in=ids).update(
        on_hand=F("on_hand")
        + Case(
            *(When(pk=products[sku], then=Value(units)) for sku, units in wanted.items()),
            output_field=IntegerField(),
        )
    )
    publish(
        StockRestocked(
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            key=key,
            lines=[RestockedLine(sku=sku, quantity=units) for sku, units in wanted.items()],
            actor=actor,
        )
    )
    return True
