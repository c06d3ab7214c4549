"""A shop's pricing settings: tax rates, shipping methods, discount codes, its own defaults.

Each write checks the rules the database cannot (SKUs in the catalog, uses within a new
limit) and turns the unique constraints it can into a 409 naming the field, never a 500.
Orders keep their own copy of what priced them (the method's code, name and price, each
line's rate and tax, each code's redemption), so a change here prices later orders only.
"""

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from orderflow.errors import FieldError

from ..exceptions import DiscountInUse, PriceSettingInputError, PriceSettingTaken
from ..models import Discount, Product, ShippingMethod, Shop, TaxRate

SHOP_FIELDS = ("prices_include_tax", "language", "tax_rate", "capture_on_shipment")


def _taken(detail: str, attr: str) -> PriceSettingTaken:
    return PriceSettingTaken(detail, errors=[FieldError(attr=attr, code="unique", detail=detail)])


# --- the shop -------------------------------------------------------------------------------------
@transaction.atomic
def shop_settings_update(*, shop: Shop, **fields) -> Shop:
    """Change the shop's pricing defaults; placed orders keep what they were priced with."""
    changed = [name for name in SHOP_FIELDS if name in fields]
    for name in changed:
        setattr(shop, name, fields[name])
    if changed:
        shop.save(update_fields=changed)
    return shop


# --- tax rates ------------------------------------------------------------------------------------
def _save_tax_rate(rate: TaxRate) -> TaxRate:
    try:
        with transaction.atomic():
            rate.save()
    except IntegrityError:
        where = rate.country or "every other country"
        raise _taken(
            f"The shop already has a {rate.tax_class!r} rate for {where}; change that one.",
            "country",
        ) from None
    return rate


def tax_rate_create(*, shop: Shop, tax_class: str = "standard", country: str = "", rate) -> TaxRate:
    return _save_tax_rate(TaxRate(shop=shop, tax_class=tax_class, country=country, rate=rate))


def tax_rate_update(*, tax_rate: TaxRate, **fields) -> TaxRate:
    for name in ("tax_class", "country", "rate"):
        if name in fields:
            setattr(tax_rate, name, fields[name])
    return _save_tax_rate(tax_rate)


def tax_rate_delete(*, tax_rate: TaxRate) -> None:
    """Orders keep each line's rate and tax: a deleted rate prices later orders only."""
    tax_rate.delete()


# --- shipping methods -----------------------------------------------------------------------------
SHIPPING_FIELDS = (
    "name",
    "kind",
    "price",
    "weight_bands",
    "free_above",
    "countries",
    "tax_class",
    "active",
    "is_default",
)


def shipping_method_check(method: ShippingMethod) -> None:
    if method.kind == "weight" and not method.weight_bands:
        detail = "A method priced by weight needs at least one band."
        raise PriceSettingInputError(
            detail, errors=[FieldError(attr="weight_bands", code="required", detail=detail)]
        )


def shipping_method_save(method: ShippingMethod) -> ShippingMethod:
    """Check and save ``method``; made the default, it takes over from the shop's previous one.

    Setting a default locks the shop's row (``FOR NO KEY UPDATE``, which orders inserting
    under the shop do not wait for), so two methods made the default at once queue and the
    later one wins, instead of one meeting the one-default constraint as a 500.
    """
    shipping_method_check(method)
    try:
        with transaction.atomic():
            if method.is_default:
                list(
                    Shop.objects.select_for_update(no_key=True)
                    .filter(pk=method.shop_id)
                    .values_list("pk", flat=True)
                )
                ShippingMethod.objects.filter(shop_id=method.shop_id, is_default=True).exclude(
                    pk=method.pk
                ).update(is_default=False)
            method.save()
    except IntegrityError:
        raise _taken(f"The shop already has a shipping method {method.code!r}.", "code") from None
    return method


def shipping_method_create(*, shop: Shop, code: str, **fields) -> ShippingMethod:
    method = ShippingMethod(shop=shop, code=code)
    for name in SHIPPING_FIELDS:
        if name in fields:
            setattr(method, name, fields[name])
    return shipping_method_save(method)


def shipping_method_update(*, method: ShippingMethod, **fields) -> ShippingMethod:
    for name in SHIPPING_FIELDS:
        if name in fields:
            setattr(method, name, fields[name])
    return shipping_method_save(method)


def shipping_method_delete(*, method: ShippingMethod) -> None:
    """A hard delete: orders keep the method's code, name and price as they were priced."""
    method.delete()


# --- discounts ------------------------------------------------------------------------------------
DISCOUNT_FIELDS = (
    "kind",
    "value",
    "skus",
    "starts_at",
    "ends_at",
    "max_uses",
    "once_per_customer",
    "min_subtotal",
    "active",
)


def discount_check(discount: Discount) -> None:
    """Raise :class:`PriceSettingInputError` naming each rule the discount breaks."""
    errors = []
    if discount.kind == "percentage" and discount.value > 100:
        errors.append(FieldError("value", "max_value", "A percentage is at most 100."))
    if discount.starts_at and discount.ends_at and discount.starts_at >= discount.ends_at:
        errors.append(FieldError("ends_at", "invalid", "ends_at must come after starts_at."))
    if discount.max_uses is not None and discount.max_uses < discount.uses:
        errors.append(
            FieldError(
                "max_uses",
                "below_uses",
                f"The code has been used {discount.uses} times; max_uses cannot be lower.",
            )
        )
    if discount.skus:
        known = set(
            Product.objects.filter(shop_id=discount.shop_id, sku__in=discount.skus).values_list(
                "sku", flat=True
            )
        )
        for index, sku in enumerate(discount.skus):
            if sku not in known:
                errors.append(
                    FieldError(f"skus.{index}", "unknown_sku", f"No product with SKU {sku!r}.")
                )
    if errors:
        raise PriceSettingInputError(errors[0].detail, errors=errors)


def _save_discount(discount: Discount) -> Discount:
    discount_check(discount)
    try:
        with transaction.atomic():
            discount.save()
    except IntegrityError:
        raise _taken(
            f"The shop already has a discount code {discount.code!r} (codes ignore case).",
            "code",
        ) from None
    return discount


def discount_create(*, shop: Shop, code: str, **fields) -> Discount:
    discount = Discount(shop=shop, code=code)
    for name in DISCOUNT_FIELDS:
        if name in fields:
            setattr(discount, name, fields[name])
    return _save_discount(discount)


@transaction.atomic
def discount_update(*, discount: Discount, **fields) -> Discount:
    # the row locked: an order taking a use meanwhile must not slip under a lowered limit
    discount = Discount.objects.select_for_update().get(pk=discount.pk)
    for name in DISCOUNT_FIELDS:
        if name in fields:
            setattr(discount, name, fields[name])
    discount.updated_at = timezone.now()
    return _save_discount(discount)


def discount_delete(*, discount: Discount) -> None:
    """A code orders carry is kept (PROTECT): deactivate it instead."""
    try:
        with transaction.atomic():
            discount.delete()
    except ProtectedError:
        detail = (
            f"Orders carry discount code {discount.code!r}, so it cannot be deleted; "
            'PATCH it with {"active": false} to stop it.'
        )
        raise DiscountInUse(
            detail, errors=[FieldError(attr="code", code="in_use", detail=detail)]
        ) from None
