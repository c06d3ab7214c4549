"""What a shop configures to price its orders: tax rates, shipping methods, discount codes.

The arithmetic is in :mod:`orders.pricing`; the rules of each setting in docs/pricing.md.
"""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower

tax_class_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_\-]{0,29}$",
    "Use 1 to 30 lowercase letters, digits, dashes or underscores, e.g. reduced.",
)
country_validator = RegexValidator(r"^[A-Z]{2}$", "Use an ISO 3166 code, e.g. BR.")
code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,39}$",
    "Use 1 to 40 letters, digits, dashes or underscores.",
)

#: the tax classes every shop has; a shop may name others (a rate makes them exist)
STANDARD, REDUCED, ZERO = "standard", "reduced", "zero"
RATE_BOUNDS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))]
PRICE_BOUNDS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("9999999999.99"))]


class TaxRate(models.Model):
    """A shop's rate for a tax class, in one destination country or (blank) in every other."""

    shop = models.ForeignKey("orders.Shop", on_delete=models.CASCADE, related_name="tax_rates")
    tax_class = models.CharField(max_length=30, default=STANDARD, validators=[tax_class_validator])
    country = models.CharField(
        max_length=2,
        blank=True,
        validators=[country_validator],
        help_text="Destination country (ISO 3166); blank: every country without its own rate.",
    )
    rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        validators=RATE_BOUNDS,
        help_text="As a fraction: 0.2 is 20 %.",
    )

    class Meta:
        ordering = ["shop", "tax_class", "country"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "tax_class", "country"], name="taxrate_unique_class_country"
            ),
            models.CheckConstraint(
                condition=models.Q(rate__gte=0, rate__lte=1), name="taxrate_rate_fraction"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tax_class} {self.country or '*'}: {self.rate}"


class ShippingKind(models.TextChoices):
    FLAT = "flat", "Flat price"
    WEIGHT = "weight", "By weight bands"


class ShippingMethod(models.Model):
    """A way a shop ships: flat or by weight bands, free above a subtotal, to some countries."""

    shop = models.ForeignKey(
        "orders.Shop", on_delete=models.CASCADE, related_name="shipping_methods"
    )
    code = models.CharField(max_length=40, validators=[code_validator])
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=ShippingKind.choices, default=ShippingKind.FLAT)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0.00"), validators=PRICE_BOUNDS
    )
    #: ``[{"up_to_grams": 1000, "price": "5.00"}, …]``, ascending: the first band the
    #: order's weight fits in prices it; heavier than the last band is not served
    weight_bands = models.JSONField(default=list, blank=True)
    free_above = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=PRICE_BOUNDS,
        help_text="Free when the lines after discounts come to at least this much.",
    )
    #: ISO 3166 codes served; empty: every country
    countries = models.JSONField(default=list, blank=True)
    tax_class = models.CharField(max_length=30, default=STANDARD, validators=[tax_class_validator])
    active = models.BooleanField(default=True)
    is_default = models.BooleanField(
        default=False,
        help_text="Used when an order names no method (one per shop; only while active).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shop", "code"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "code"], name="shippingmethod_unique_code"),
            models.UniqueConstraint(
                fields=["shop"],
                condition=models.Q(is_default=True),
                name="shippingmethod_one_default",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class DiscountKind(models.TextChoices):
    PERCENTAGE = "percentage", "Percentage"
    FIXED = "fixed", "Fixed amount"


class Discount(models.Model):
    """A discount code: limits are checked at intake, the use limit by the database."""

    shop = models.ForeignKey("orders.Shop", on_delete=models.CASCADE, related_name="discounts")
    code = models.CharField(
        max_length=40, validators=[code_validator], help_text="Case-insensitive."
    )
    kind = models.CharField(max_length=10, choices=DiscountKind.choices)
    value = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), PRICE_BOUNDS[1]],
        help_text="Percent (1 to 100) or an amount in the shop's currency and price basis.",
    )
    #: the SKUs it applies to; empty: the whole order
    skus = models.JSONField(default=list, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, help_text="Orders that may carry it in all; blank: no limit."
    )
    uses = models.PositiveIntegerField(default=0, editable=False)
    once_per_customer = models.BooleanField(
        default=False, help_text="One order per customer e-mail address."
    )
    min_subtotal = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=PRICE_BOUNDS
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shop", "code"]
        constraints = [
            models.UniqueConstraint("shop", Lower("code"), name="discount_unique_code"),
            # the use limit: the intake's conditional increment, and this, hold it
            models.CheckConstraint(
                condition=models.Q(max_uses__isnull=True)
                | models.Q(uses__lte=models.F("max_uses")),
                name="discount_uses_within_limit",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="percentage") | models.Q(value__lte=100),
                name="discount_percentage_at_most_100",
            ),
            models.CheckConstraint(condition=models.Q(value__gt=0), name="discount_value_positive"),
        ]

    def __str__(self) -> str:
        return self.code


class DiscountRedemption(models.Model):
    """One order's use of a code: what it took off, and by whom (for once-per-customer)."""

    discount = models.ForeignKey(Discount, on_delete=models.PROTECT, related_name="redemptions")
    order = models.ForeignKey(
        "orders.Order", on_delete=models.CASCADE, related_name="discount_redemptions"
    )
    #: lowercased, so that one customer is one address however it is typed
    customer_email = models.CharField(max_length=254)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    once_per_customer = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["discount", "order"], name="redemption_once_per_order"),
            models.UniqueConstraint(
                fields=["discount", "customer_email"],
                condition=models.Q(once_per_customer=True),
                name="redemption_once_per_customer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.discount} on {self.order_id}"
