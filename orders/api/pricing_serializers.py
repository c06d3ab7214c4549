"""Input and output of a shop's pricing settings: tax rates, shipping methods, discounts, shop.

Amounts are written as the catalog's prices are (:class:`PriceInputField`: ``"9.90"``), rates
as decimal strings of a fraction (``"0.055"``); unknown fields are refused like everywhere.
"""

import re
from datetime import UTC
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orderflow.api.serializers import StrictInputSerializer

from ..choices import Locale
from ..models import Discount, ShippingMethod, Shop, TaxRate, sku_validator
from ..models.price_rules import (
    DiscountKind,
    ShippingKind,
    code_validator,
    country_validator,
    tax_class_validator,
)
from .serializers import PriceInputField

RATE_PATTERN = r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$"
MAX_BANDS = 50
MAX_COUNTRIES = 250
MAX_SKUS = 500
MAX_GRAMS = 10_000_000


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": RATE_PATTERN, "example": "0.2"}
)
class RateInputField(serializers.DecimalField):
    """A tax rate as a fraction written plainly: ``"0.2"`` is 20 %, from ``"0"`` to ``"1"``."""

    default_error_messages = {
        "not_plain": 'Send the rate as a fraction from "0" to "1" with up to 4 decimals, '
        'e.g. "0.2" for 20 %.'
    }

    def __init__(self, **kwargs):
        super().__init__(
            max_digits=5, decimal_places=4, min_value=Decimal(0), max_value=Decimal(1), **kwargs
        )

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        if not isinstance(data, str) or not re.fullmatch(RATE_PATTERN, data):
            self.fail("not_plain")
        return value


class NullablePriceInputField(PriceInputField):
    """A price, or ``null`` for none (a threshold or minimum that does not apply)."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def run_validation(self, data=serializers.empty):
        if data is None:
            return None
        return super().run_validation(data)


class TextField(serializers.CharField):
    """A string that must be sent as one: DRF's CharField takes ``0`` as ``"0"``."""

    default_error_messages = {"invalid": "Send a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class FlagField(serializers.BooleanField):
    """``true`` or ``false`` only: DRF's BooleanField also takes ``0``, ``"yes"``, ``"on"``."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class WholeNumberField(serializers.IntegerField):
    """A JSON integer only: DRF's IntegerField also takes ``"5"``, ``5.0`` and ``true``."""

    default_error_messages = {"invalid": "Send a whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def _country_field(**kwargs):
    return TextField(max_length=2, validators=[country_validator], **kwargs)


def _tax_class_field(**kwargs):
    return TextField(
        max_length=30,
        validators=[tax_class_validator],
        help_text="standard, reduced, zero, or a class of the shop's own.",
        **kwargs,
    )


# --- shop ---------------------------------------------------------------------------------------
class ShopSettingsInputSerializer(StrictInputSerializer):
    prices_include_tax = FlagField(
        required=False,
        help_text="Catalog prices, shipping prices and fixed discounts include tax; false: they "
        "are net and tax is added to the order.",
    )
    language = serializers.ChoiceField(
        choices=Locale.choices, required=False, help_text="What the shop's customers read."
    )
    tax_rate = RateInputField(
        required=False,
        help_text="The standard class's rate where no tax rate of the shop's says otherwise.",
    )
    capture_on_shipment = FlagField(
        required=False,
        help_text="Authorise card payments at confirmation, capture at the first shipment.",
    )


class ShopSettingsOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Shop
        fields = [
            "name",
            "currency",
            "prices_include_tax",
            "language",
            "tax_rate",
            "capture_on_shipment",
        ]
        read_only_fields = fields


# --- tax rates ------------------------------------------------------------------------------------
class TaxRateCreateInputSerializer(StrictInputSerializer):
    tax_class = _tax_class_field(required=False, default="standard")
    country = TextField(
        max_length=2,
        required=False,
        default="",
        allow_blank=True,
        validators=[country_validator],
        help_text="ISO 3166 destination country; blank: every country without its own rate.",
    )
    rate = RateInputField()


class TaxRateUpdateInputSerializer(StrictInputSerializer):
    tax_class = _tax_class_field(required=False)
    country = TextField(
        max_length=2, required=False, allow_blank=True, validators=[country_validator]
    )
    rate = RateInputField(required=False)


class TaxRateOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaxRate
        fields = ["id", "tax_class", "country", "rate"]
        read_only_fields = fields


# --- shipping methods -----------------------------------------------------------------------------
class WeightBandSerializer(StrictInputSerializer):
    up_to_grams = WholeNumberField(min_value=1, max_value=MAX_GRAMS)
    price = PriceInputField()

    def to_representation(self, instance):
        return {"up_to_grams": instance["up_to_grams"], "price": str(instance["price"])}


def _validate_bands(bands: list[dict]) -> list[dict]:
    previous = 0
    for band in bands:
        if band["up_to_grams"] <= previous:
            raise serializers.ValidationError(
                "Bands go by ascending up_to_grams, each heavier than the one before."
            )
        previous = band["up_to_grams"]
    return [{"up_to_grams": b["up_to_grams"], "price": str(b["price"])} for b in bands]


def _validate_unique(values: list[str], what: str) -> list[str]:
    if len(set(values)) != len(values):
        raise serializers.ValidationError(f"Each {what} once.")
    return values


class _ShippingFields(StrictInputSerializer):
    kind = serializers.ChoiceField(choices=ShippingKind.choices, required=False)
    price = PriceInputField(required=False, help_text="The flat price (kind flat).")
    weight_bands = WeightBandSerializer(
        many=True,
        required=False,
        max_length=MAX_BANDS,
        help_text="Kind weight: ascending bands; the first the order's weight fits in prices "
        "it, heavier than the last is not served.",
    )
    free_above = NullablePriceInputField(
        required=False,
        help_text="Free when the lines after discounts come to at least this much; null: never.",
    )
    countries = serializers.ListField(
        child=_country_field(),
        required=False,
        max_length=MAX_COUNTRIES,
        help_text="ISO 3166 codes served; empty: every country.",
    )
    tax_class = _tax_class_field(required=False)
    active = FlagField(required=False)
    is_default = FlagField(
        required=False,
        help_text="Used for orders that name no method; making one the default unsets the "
        "shop's previous one.",
    )

    def validate_weight_bands(self, bands):
        return _validate_bands(bands)

    def validate_countries(self, countries):
        return _validate_unique(countries, "country")


class ShippingMethodCreateInputSerializer(_ShippingFields):
    code = TextField(max_length=40, validators=[code_validator])
    name = TextField(max_length=120)


class ShippingMethodUpdateInputSerializer(_ShippingFields):
    name = TextField(max_length=120, required=False)


class ShippingMethodOutputSerializer(serializers.ModelSerializer):
    weight_bands = WeightBandSerializer(many=True)

    class Meta:
        model = ShippingMethod
        fields = [
            "code",
            "name",
            "kind",
            "price",
            "weight_bands",
            "free_above",
            "countries",
            "tax_class",
            "active",
            "is_default",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- discounts ------------------------------------------------------------------------------------
class _DiscountFields(StrictInputSerializer):
    value = PriceInputField(
        required=False,
        help_text="kind percentage: 0 < value <= 100; kind fixed: an amount in the shop's "
        "currency and price basis.",
    )
    skus = serializers.ListField(
        child=TextField(max_length=64, validators=[sku_validator]),
        required=False,
        max_length=MAX_SKUS,
        help_text="The SKUs it applies to, each in the shop's catalog; empty: the whole order.",
    )
    starts_at = serializers.DateTimeField(required=False, allow_null=True)
    ends_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="After starts_at."
    )
    max_uses = WholeNumberField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2_147_483_647,
        help_text="Orders that may carry it in all, at least its uses so far; null: no limit.",
    )
    once_per_customer = FlagField(required=False)
    min_subtotal = NullablePriceInputField(required=False)
    active = FlagField(required=False)

    def validate_starts_at(self, value):
        return _storable_moment(value)

    def validate_ends_at(self, value):
        return _storable_moment(value)

    def validate_value(self, value):
        if value <= 0:
            raise serializers.ValidationError("A discount is more than 0.", code="min_value")
        return value

    def validate_skus(self, skus):
        return _validate_unique(skus, "SKU")


def _storable_moment(value):
    """A moment from year 2 to 9998 in UTC: near the calendar's ends, UTC leaves it (a 500)."""
    if value is None:
        return value
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not 2 <= utc.year <= 9998:
        raise serializers.ValidationError("Use a date from year 2 to 9998.", code="overflow")
    return utc


class DiscountCreateInputSerializer(_DiscountFields):
    code = TextField(max_length=40, validators=[code_validator], help_text="Case-insensitive.")
    kind = serializers.ChoiceField(choices=DiscountKind.choices)
    value = PriceInputField(help_text=_DiscountFields._declared_fields["value"].help_text)

    def validate(self, attrs):
        _check_percentage(attrs.get("kind"), attrs.get("value"))
        return attrs


class DiscountUpdateInputSerializer(_DiscountFields):
    kind = serializers.ChoiceField(choices=DiscountKind.choices, required=False)


def _check_percentage(kind, value) -> None:
    if kind == DiscountKind.PERCENTAGE and value is not None and value > 100:
        raise serializers.ValidationError({"value": ["A percentage is at most 100."]})


class DiscountOutputSerializer(serializers.ModelSerializer):
    uses = WholeNumberField(read_only=True, help_text="Orders that carry it.")

    class Meta:
        model = Discount
        fields = [
            "code",
            "kind",
            "value",
            "skus",
            "starts_at",
            "ends_at",
            "max_uses",
            "uses",
            "once_per_customer",
            "min_subtotal",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
