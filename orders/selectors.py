"""Read queries for the API, pages and admin."""

import contextlib
from collections.abc import Iterable
from uuid import UUID

from django.db.models import Q, QuerySet, Sum, prefetch_related_objects
from django.db.models.functions import Coalesce

from .choices import OrderStatus
from .models import Order, OrderLine, Product, Return, Shipment, Shop, ShopCarrier

#: the statuses of an order before its first parcel left
NOT_SHIPPED = frozenset(
    {
        OrderStatus.PLACED,
        OrderStatus.RESERVED,
        OrderStatus.PAID,
        OrderStatus.CONFIRMED,
        OrderStatus.REJECTED,
        OrderStatus.CANCELLED,
    }
)


def order_list_for_shop(*, shop: Shop) -> QuerySet[Order]:
    return Order.objects.filter(shop=shop).prefetch_related("lines", "shipments__lines")


def order_get_for_shop(*, shop: Shop, order_id: UUID) -> Order:
    """Return the shop's order or raise ``Order.DoesNotExist`` (another shop's too).

    Its lines come with it; its parcels too, once it may have one (an order that has not
    shipped has none: no query for them)."""
    order = Order.objects.filter(shop=shop).prefetch_related("lines").get(pk=order_id)
    if order.status not in NOT_SHIPPED:
        prefetch_related_objects([order], "shipments__lines")
    return order


def order_with_parcels(*, order: Order) -> Order:
    """``order`` (read by a service, its lines with it) with its parcels and their lines,
    as ``order_get_for_shop`` reads them: two queries."""
    prefetch_related_objects([order], "shipments__lines")
    return order


def shipment_list_for_order(*, shop: Shop, order_id: UUID) -> list[Shipment]:
    """The order's parcels, oldest first; ``Order.DoesNotExist`` for another shop's order."""
    order = Order.objects.only("pk", "tracking_token").get(shop=shop, pk=order_id)
    return list(order.shipments.prefetch_related("lines"))


def order_lines_to_ship(*, order_id: UUID) -> list[tuple[str, str, int]]:
    """Each line of the order with units still to ship: (SKU, name, units), in line order."""
    lines = (
        OrderLine.objects.filter(order_id=order_id)
        .annotate(shipped=Coalesce(Sum("shipment_lines__quantity"), 0))
        .order_by("id")
        .values_list("sku", "name", "quantity", "shipped")
    )
    return [
        (sku, name, quantity - shipped)
        for sku, name, quantity, shipped in lines
        if quantity > shipped
    ]


def product_list_for_shop(*, shop: Shop) -> QuerySet[Product]:
    return Product.objects.filter(shop=shop)


def product_get_for_shop(*, shop: Shop, sku: str) -> Product:
    return product_list_for_shop(shop=shop).get(sku=sku)


#: the most orders (and shops) a search term stands for in the admin: an e-mail behind more
#: orders than this finds its newest ones
SEARCH_LIMIT = 500


def order_ids_and_shop_ids_matching(term: str) -> tuple[list[UUID], list[int]]:
    """The orders a support search term names, and the shops: two indexed queries.

    An order by its number, the shop's reference, the customer's e-mail (as typed or in
    lower case, so the e-mail index serves it) or its id; a shop by its slug or a part of
    its name (shops are few).
    """
    term = term.strip()
    if not term:
        return [], []
    orders = (
        Q(number=term.upper())
        | Q(external_reference=term)
        | Q(customer_email__in={term, term.lower()})
    )
    with contextlib.suppress(ValueError):
        orders |= Q(pk=UUID(term))
    order_ids = list(
        Order.objects.filter(orders)
        .order_by("-created_at")
        .values_list("pk", flat=True)[:SEARCH_LIMIT]
    )
    shop_ids = list(
        Shop.objects.filter(Q(slug=term.lower()) | Q(name__icontains=term))
        .order_by("pk")
        .values_list("pk", flat=True)[:SEARCH_LIMIT]
    )
    return order_ids, shop_ids


def order_numbers_and_shops(order_ids: Iterable[UUID]) -> list[tuple[UUID, str, int, str]]:
    """(order id, number, shop id, shop name) of each order given: one query."""
    return list(
        Order.objects.filter(pk__in=list(order_ids)).values_list(
            "pk", "number", "shop_id", "shop__name"
        )
    )


def shop_names(shop_ids: Iterable[int]) -> dict[int, str]:
    """Each shop's name by its id: one query."""
    return dict(Shop.objects.filter(pk__in=list(shop_ids)).values_list("pk", "name"))


def orders_to_ship(*, limit: int = 100) -> list[dict]:
    """The oldest confirmed orders (the state that ships), with their shops' carriers.

    Two queries. Shipping checks the state again: this list only offers.
    """
    orders = list(
        Order.objects.filter(status=OrderStatus.CONFIRMED)
        .order_by("created_at", "pk")
        .values("pk", "number", "shop_id", "shop__name", "customer_name", "total", "currency")[
            :limit
        ]
    )
    carriers: dict[int, list[str]] = {}
    for shop_id, carrier in (
        ShopCarrier.objects.filter(shop_id__in={o["shop_id"] for o in orders})
        .order_by("carrier")
        .values_list("shop_id", "carrier")
    ):
        carriers.setdefault(shop_id, []).append(carrier)
    return [{**order, "carriers": carriers.get(order["shop_id"], [])} for order in orders]


def return_list_for_order(*, order_id: UUID, shop_id: int | None) -> QuerySet[Return]:
    """The order's returns with their lines, oldest first (``Order.DoesNotExist`` if the
    order is not the shop's; staff pass ``shop_id`` None)."""
    orders = Order.objects.filter(pk=order_id)
    if shop_id is not None:
        orders = orders.filter(shop_id=shop_id)
    if not orders.exists():
        raise Order.DoesNotExist(f"Order {order_id} does not exist.")
    return Return.objects.filter(order_id=order_id).prefetch_related("lines").order_by("number")


def return_exists_for_order(*, order_id: UUID, return_id: UUID) -> bool:
    return Return.objects.filter(pk=return_id, order_id=order_id).exists()
