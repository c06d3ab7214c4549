"""The orders tests' catalog; shop, api and order_body come from the test kit (testkit.plugin)."""

import pytest

from testkit.factories import ProductFactory


@pytest.fixture
def products(shop):
    """Three products of ``shop``: COFFEE-1KG at 24.90, MUG at 9.90, FILTER at 3.50."""
    return {
        "COFFEE-1KG": ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50),
        "MUG": ProductFactory(shop=shop, sku="MUG", price="9.90", on_hand=20),
        "FILTER": ProductFactory(shop=shop, sku="FILTER", price="3.50", on_hand=1000),
    }
