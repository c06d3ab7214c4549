import pytest
from rest_framework.test import APIClient

from .factories import ProductFactory, ShopFactory, api_key_for


@pytest.fixture
def shop(db):
    return ShopFactory()


@pytest.fixture
def other_shop(db):
    return ShopFactory()


@pytest.fixture
def products(shop):
    """Three products of ``shop``: COFFEE-1KG at 24.90, MUG at 9.90, FILTER at 3.50."""
    return {
        "COFFEE-1KG": ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50),
        "MUG": ProductFactory(shop=shop, sku="MUG", price="9.90", on_hand=20),
        "FILTER": ProductFactory(shop=shop, sku="FILTER", price="3.50", on_hand=1000),
    }


def _client_for(shop) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(shop)}")
    return client


@pytest.fixture
def api(shop) -> APIClient:
    """An API client authenticated as ``shop``."""
    return _client_for(shop)


@pytest.fixture
def other_api(other_shop) -> APIClient:
    return _client_for(other_shop)


@pytest.fixture
def order_body():
    def make(**overrides):
        body = {
            "customer": {"name": "Ana Souza", "email": "ana@example.com"},
            "shipping_address": {
                "line1": "Rua A 1",
                "city": "São Paulo",
                "postal_code": "01000-000",
                "country": "BR",
            },
            "lines": [{"sku": "COFFEE-1KG", "quantity": 2}],
            "payment": {"token": "tok_ok"},
        }
        body.update(overrides)
        return body

    return make
