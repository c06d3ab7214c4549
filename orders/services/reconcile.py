"""Stock reconciliation: reserved units recomputed from the orders that hold them."""

from dataclasses import dataclass

from django.db import transaction

from ..models import Product
from .stock import held_units


@dataclass(frozen=True)
class StockDrift:
    shop_slug: str
    sku: str
    recorded: int
    computed: int


@transaction.atomic
def stock_reconcile(*, fix: bool = False, shop_slug: str | None = None) -> list[StockDrift]:
    """Compare each product's reserved count with what its open orders hold; repair if asked.

    Products are locked (in id order, like every stock change) so that the comparison and
    the repair see a still picture.
    """
    products = Product.objects.select_related("shop").order_by("pk")
    if shop_slug:
        products = products.filter(shop__slug=shop_slug)
    products = products.select_for_update(of=("self",)).annotate(computed=held_units())
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
