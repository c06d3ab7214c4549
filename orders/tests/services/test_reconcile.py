"""Reconciliation: reserved stock recomputed from the orders that hold it; drift repaired."""

import pytest

from orders.models import Product
from orders.services.reconcile import StockDrift, stock_reconcile
from testkit.factories import ProductFactory, order_in

from ..assertions import stock_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_orders(shop, products):
    """Orders in every state: only reserved, paid and confirmed ones hold stock."""
    order_in(shop, "placed", lines={"COFFEE-1KG": 7})
    order_in(shop, "reserved", lines={"COFFEE-1KG": 1, "MUG": 2})
    order_in(shop, "paid", lines={"COFFEE-1KG": 2})
    order_in(shop, "confirmed", lines={"MUG": 3})
    order_in(shop, "shipped", lines={"COFFEE-1KG": 4})
    order_in(shop, "cancelled", lines={"MUG": 5})
    assert stock_of(shop) == {"COFFEE-1KG": (46, 3), "MUG": (20, 5), "FILTER": (1000, 0)}


def _drift(shop, sku: str, reserved: int) -> None:
    Product.objects.filter(shop=shop, sku=sku).update(reserved=reserved)


def test_reports_nothing_when_reserved_matches_the_open_orders(shop, open_orders):
    assert stock_reconcile() == []
    assert stock_reconcile(fix=True) == []
    assert stock_of(shop) == {"COFFEE-1KG": (46, 3), "MUG": (20, 5), "FILTER": (1000, 0)}


def test_reports_drift_without_changing_anything(shop, open_orders):
    _drift(shop, "COFFEE-1KG", 9)
    _drift(shop, "MUG", 0)
    _drift(shop, "FILTER", 4)

    drifts = stock_reconcile()

    assert drifts == [
        StockDrift(shop_slug=shop.slug, sku="COFFEE-1KG", recorded=9, computed=3),
        StockDrift(shop_slug=shop.slug, sku="MUG", recorded=0, computed=5),
        StockDrift(shop_slug=shop.slug, sku="FILTER", recorded=4, computed=0),
    ]
    assert stock_of(shop) == {"COFFEE-1KG": (46, 9), "MUG": (20, 0), "FILTER": (1000, 4)}


def test_fix_sets_reserved_to_what_the_open_orders_hold(shop, open_orders):
    _drift(shop, "COFFEE-1KG", 9)
    _drift(shop, "MUG", 0)

    drifts = stock_reconcile(fix=True)

    assert [(d.sku, d.recorded, d.computed) for d in drifts] == [
        ("COFFEE-1KG", 9, 3),
        ("MUG", 0, 5),
    ]
    assert stock_of(shop) == {"COFFEE-1KG": (46, 3), "MUG": (20, 5), "FILTER": (1000, 0)}
    assert stock_reconcile() == []


def test_a_shop_filter_looks_at_that_shop_alone(shop, other_shop, open_orders):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG", reserved=0)
    _drift(other_shop, "COFFEE-1KG", 2)
    _drift(shop, "MUG", 1)

    drifts = stock_reconcile(fix=True, shop_slug=shop.slug)

    assert drifts == [StockDrift(shop_slug=shop.slug, sku="MUG", recorded=1, computed=5)]
    assert stock_of(shop)["MUG"] == (20, 5)
    assert stock_of(other_shop) == {"COFFEE-1KG": (100, 2)}
