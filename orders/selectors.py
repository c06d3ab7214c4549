"""Read queries for the API, pages and admin."""

from uuid import UUID

from django.db.models import QuerySet

from .models import Order, Product, Shop


def order_list_for_shop(*, shop: Shop) -> QuerySet[Order]:
    return Order.objects.filter(shop=shop).prefetch_related("lines")


def order_get_for_shop(*, shop: Shop, order_id: UUID) -> Order:
    """Return the shop's order or raise ``Order.DoesNotExist`` (another shop's too)."""
    return order_list_for_shop(shop=shop).get(pk=order_id)


def product_list_for_shop(*, shop: Shop) -> QuerySet[Product]:
    return Product.objects.filter(shop=shop)


def product_get_for_shop(*, shop: Shop, sku: str) -> Product:
    return product_list_for_shop(shop=shop).get(sku=sku)
