from decimal import Decimal

import pytest

from testkit.factories import ProductFactory, ShopFactory


@pytest.fixture
def shop(db):
    """A shop that invoices 20 % tax, with its seller details."""
    return ShopFactory(
        name="Beans & Co",
        tax_rate=Decimal("0.2"),
        legal_name="Beans & Co Ltda",
        address="Rua B 2\n01000-000 São Paulo",
        tax_id="BR12345678",
    )


@pytest.fixture
def products(shop):
    """COFFEE-1KG at 24.90 (50 on hand) and MUG at 9.90 (20 on hand)."""
    return {
        "COFFEE-1KG": ProductFactory(
            shop=shop, sku="COFFEE-1KG", name="Coffee 1 kg", price="24.90", on_hand=50
        ),
        "MUG": ProductFactory(shop=shop, sku="MUG", name="Mug", price="9.90", on_hand=20),
    }
