from decimal import Decimal

import factory

from orders import services
from orders.models import Product, Shop


class ShopFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shop

    name = factory.Sequence(lambda n: f"Shop {n}")
    slug = factory.Sequence(lambda n: f"shop-{n}")
    currency = "EUR"
    contact_email = factory.LazyAttribute(lambda shop: f"{shop.slug}@example.com")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    shop = factory.SubFactory(ShopFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("10.00")
    currency = factory.LazyAttribute(lambda product: product.shop.currency)
    on_hand = 100


def api_key_for(shop: Shop) -> str:
    return services.api_key_create(shop=shop, name="test")[1]
