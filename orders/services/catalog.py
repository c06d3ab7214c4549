"""The shop's catalog and stock on hand."""

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from orderflow.errors import FieldError

from ..exceptions import ProductInputError
from ..models import Product, Shop


@transaction.atomic
def product_create(
    *,
    shop: Shop,
    sku: str,
    name: str,
    price: Decimal,
    stock: int = 0,
    currency: str | None = None,
    tax_class: str = "standard",
    weight_grams: int = 0,
) -> Product:
    currency = (currency or shop.currency).upper()
    _check_currency(shop, currency)
    try:
        with transaction.atomic():
            return Product.objects.create(
                shop=shop,
                sku=sku,
                name=name,
                price=price,
                currency=currency,
                on_hand=stock,
                tax_class=tax_class,
                weight_grams=weight_grams,
            )
    except IntegrityError:
        raise ProductInputError(
            f"A product with SKU {sku!r} already exists in this shop.",
            errors=[FieldError(attr="sku", code="unique", detail=f"SKU {sku!r} is taken.")],
        ) from None


@transaction.atomic
def product_update(
    *,
    product: Product,
    name: str | None = None,
    price: Decimal | None = None,
    stock: int | None = None,
    tax_class: str | None = None,
    weight_grams: int | None = None,
) -> Product:
    """Change a product; ``stock`` sets units on hand and may not drop below what is reserved.

    A new price, tax class or weight prices the orders placed after it; placed orders keep
    what they were priced with.
    """
    fields = {}
    if tax_class is not None:
        fields["tax_class"] = tax_class
    if weight_grams is not None:
        fields["weight_grams"] = weight_grams
    if name is not None:
        fields["name"] = name
    if price is not None:
        fields["price"] = price
    if stock is not None:
        fields["on_hand"] = stock
    if not fields:
        return product
    fields["updated_at"] = timezone.now()  # update() skips auto_now
    # One conditional UPDATE: the reserved count may move under us (the saga), so the
    # check and the write must be the same statement.
    query = Product.objects.filter(pk=product.pk)
    if stock is not None:
        query = query.filter(reserved__lte=stock)
    if query.update(**fields) != 1:
        product.refresh_from_db(fields=["reserved"])
        raise ProductInputError(
            f"Stock cannot be set to {stock}: {product.reserved} units are reserved for open "
            "orders.",
            errors=[
                FieldError(
                    attr="stock",
                    code="below_reserved",
                    detail=f"Must be at least {product.reserved} (units reserved).",
                )
            ],
        )
    product.refresh_from_db()
    return product


def _check_currency(shop: Shop, currency: str) -> None:
    if currency != shop.currency:
        raise ProductInputError(
            f"This shop sells in {shop.currency}; a product priced in {currency} could never "
            "be ordered.",
            errors=[
                FieldError(
                    attr="currency", code="currency_mismatch", detail=f"Use {shop.currency}."
                )
            ],
        )
