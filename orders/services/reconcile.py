"""Stock reconciliation: reserved units recomputed from the orders that hold them."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from ..models import OrderLine, Product
from .lifecycle import HOLDING_STOCK


@dataclass(frozen=True)
class StockDrift:
    shop_slug: str
    sku: str
    recorded: int
    computed: int


@transaction.atomic
def stock_reconcile(*, fix: bool = False, shop_slug: str | None = None) -> list[StockDrift]:
    """Compare each product's reserved count with its open orders' lines; repair if asked.

    Products are locked (in id order, like every stock change) so that the comparison and
    the repair see a still picture.
    """
    held = (
        OrderLine.objects.filter(product=OuterRef("pk"), order__status__in=HOLDING_STOCK)
        .values("product")
        .annotate(units=Sum("quantity"))
        .values("units")
    )
    products = Product.objects.select_related("shop").order_by("pk")
    if shop_slug:
        products = products.filter(shop__slug=shop_slug)
    products = products.select_for_update(of=("self",)).annotate(
        computed=Coalesce(Subquery(held, output_field=IntegerField()), Value(0))
    )
    drifts = [
        StockDrift(shop_slug=p.shop.slug, sku=p.sku, recorded=p.reserved, computed=p.computed)
        for p in products
        if p.reserved != p.computed
    ]
    if fix:
        for drift in drifts:
            Product.objects.filter(shop__slug=drift.shop_slug, sku=drift.sku).update(
                reserved=drift.computed
            )
    return drifts
