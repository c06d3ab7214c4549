from decimal import Decimal

import factory

from orders import services, state_machine
from orders.choices import OrderStatus
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


def order_for(shop: Shop, *, lines: dict[str, int] | None = None, email: str = "ana@example.com"):
    """Place an order through the intake service, as the API would (lines: SKU -> quantity)."""
    return services.order_place(
        shop=shop,
        customer=services.CustomerInput(name="Ana Souza", email=email),
        shipping_address={
            "line1": "Rua A 1",
            "city": "São Paulo",
            "postal_code": "01000-000",
            "country": "BR",
        },
        lines=[
            services.LineInput(sku=sku, quantity=quantity)
            for sku, quantity in (lines or {"COFFEE-1KG": 1}).items()
        ],
        payment_token="tok_ok",
    )


#: The happy path, in order; ``advance`` walks an order along it one legal step at a time.
HAPPY_PATH = [
    OrderStatus.PLACED,
    OrderStatus.RESERVED,
    OrderStatus.PAID,
    OrderStatus.CONFIRMED,
    OrderStatus.SHIPPED,
    OrderStatus.OUT_FOR_DELIVERY,
    OrderStatus.DELIVERED,
]


def advance(order, *, to: str):
    """Move ``order`` to ``to`` through the state machine, step by step (no shortcuts)."""
    if to in HAPPY_PATH:
        for status in HAPPY_PATH[HAPPY_PATH.index(order.status) + 1 : HAPPY_PATH.index(to) + 1]:
            state_machine.transition(order, to=status)
    else:
        state_machine.transition(order, to=to)
    return order
