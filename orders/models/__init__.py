import decimal
import secrets
import uuid
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.functional import cached_property
from rest_framework_api_key.models import AbstractAPIKey

from ..choices import Locale, OrderStatus, PaymentMode
from .price_rules import (
    STANDARD,
    Discount,
    DiscountKind,
    DiscountRedemption,
    ShippingKind,
    ShippingMethod,
    TaxRate,
    tax_class_validator,
)
from .returns import Return, ReturnLine
from .shipments import Shipment, ShipmentLine

__all__ = [
    "Discount",
    "DiscountKind",
    "DiscountRedemption",
    "Return",
    "ReturnLine",
    "Shipment",
    "ShipmentLine",
    "ShippingKind",
    "ShippingMethod",
    "TaxRate",
]

currency_validator = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code, e.g. EUR.")
sku_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$",
    "Use 1 to 64 letters, digits, dots, dashes or underscores.",
)
carrier_name_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,49}$",
    "Use 1 to 50 letters, digits, dots, dashes or underscores.",
)
#: the statuses of an order with a parcel on the road (its latest in ``carrier`` and
#: ``tracking_number``); an order's every parcel on the road: ``Shipment`` rows whose
#: status is in ``shipments.ON_THE_ROAD``
PARCEL_ON_THE_ROAD = (
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.SHIPPED,
    OrderStatus.OUT_FOR_DELIVERY,
)


class MoneyField(models.DecimalField):
    """A DecimalField that reads back any stored amount, however large.

    PostgreSQL refuses an amount over ``max_digits``, but SQLite (embedded mode) stores
    it, and Django's SQLite converter rounds what it reads with a context of
    ``max_digits`` digits: one over-large row made every query that loads it raise, and
    a shop's order list answered 500 for good. Validation bounds new amounts (see
    ``orders.services.intake``); reads use a 28-digit context so that an old row still
    loads. It is a plain DecimalField to migrations: the column is the same.
    """

    @cached_property
    def context(self) -> decimal.Context:
        return decimal.Context(prec=max(self.max_digits or 0, 28))

    def deconstruct(self):
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs


def _order_number() -> str:
    # Random rather than sequential: a per-shop counter would be one hot row that every
    # order of a shop waits on. Crockford base32 without ambiguous letters, 10^12 space.
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "OF-" + "".join(secrets.choice(alphabet) for _ in range(8))


def _tracking_token() -> str:
    return secrets.token_urlsafe(24)


class Shop(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    currency = models.CharField(max_length=3, default="EUR", validators=[currency_validator])
    contact_email = models.EmailField(blank=True)
    tax_rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text="The standard rate where no tax rate of the shop's says otherwise, as a "
        "fraction: 0.2 is 20 %.",
    )
    prices_include_tax = models.BooleanField(
        default=True,
        help_text="Catalog prices, shipping prices and fixed discounts include tax; off: they "
        "are net, and tax is added to the order.",
    )
    language = models.CharField(
        max_length=5,
        choices=Locale.choices,
        default=Locale.EN,
        help_text="What the shop's customers read, unless an order says otherwise.",
    )
    capture_on_shipment = models.BooleanField(
        default=False,
        help_text="Authorise card payments at confirmation and capture them when the first "
        "shipment leaves (a cancelled order's authorisation is voided); off: capture at once.",
    )
    legal_name = models.CharField(max_length=200, blank=True, help_text="Seller on invoices.")
    address = models.TextField(blank=True, help_text="Seller address on invoices.")
    tax_id = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ShopAPIKey(AbstractAPIKey):
    """A shop's API key: random, stored hashed (SHA-512), shown once, revocable."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="api_keys")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "shop API key"
        verbose_name_plural = "shop API keys"


class Product(models.Model):
    #: no index of its own: ``product_unique_shop_sku`` leads with the shop
    shop = models.ForeignKey(
        Shop, on_delete=models.PROTECT, related_name="products", db_index=False
    )
    sku = models.CharField(max_length=64, validators=[sku_validator])
    name = models.CharField(max_length=200)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.00"))]
    )
    currency = models.CharField(max_length=3, validators=[currency_validator])
    tax_class = models.CharField(
        max_length=30,
        default=STANDARD,
        validators=[tax_class_validator],
        help_text="standard, reduced, zero, or a class of the shop's own tax rates.",
    )
    weight_grams = models.PositiveIntegerField(default=0, help_text="For shipping by weight.")
    on_hand = models.IntegerField(default=0, help_text="Units in the warehouse.")
    reserved = models.IntegerField(
        default=0, editable=False, help_text="Units held for open orders (set by the saga)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "sku"], name="product_unique_shop_sku"),
            models.CheckConstraint(
                condition=models.Q(on_hand__gte=0), name="product_on_hand_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(reserved__gte=0, reserved__lte=models.F("on_hand")),
                name="product_reserved_within_on_hand",
            ),
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="product_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} — {self.name}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    #: no index of its own: four of the indexes below lead with the shop (each index is paid
    #: on every insert and every status change, which is never a HOT update)
    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="orders", db_index=False)
    number = models.CharField(max_length=20, default=_order_number, editable=False)
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PLACED, editable=False
    )
    customer_name = models.CharField(max_length=200)
    customer_email = models.EmailField()
    customer_locale = models.CharField(
        max_length=5, choices=Locale.choices, default=Locale.EN, editable=False
    )
    shipping_address = models.JSONField()
    currency = models.CharField(max_length=3, editable=False)
    #: the amounts below are in the catalog's basis (``orders.pricing``): tax included when
    #: the shop's prices included it when the order was placed
    prices_include_tax = models.BooleanField(default=True, editable=False)
    #: the lines before discounts
    subtotal = MoneyField(max_digits=14, decimal_places=2, editable=False)
    discount_total = MoneyField(max_digits=14, decimal_places=2, default=0, editable=False)
    shipping_method = models.CharField(max_length=40, blank=True, editable=False)
    shipping_method_name = models.CharField(max_length=120, blank=True, editable=False)
    shipping_total = MoneyField(max_digits=14, decimal_places=2, default=0, editable=False)
    shipping_tax_rate = models.DecimalField(
        max_digits=5, decimal_places=4, default=0, editable=False
    )
    shipping_tax = MoneyField(max_digits=14, decimal_places=2, default=0, editable=False)
    tax_total = MoneyField(max_digits=14, decimal_places=2, default=0, editable=False)
    total = MoneyField(max_digits=14, decimal_places=2, editable=False)
    #: ``[{"code": "SUMMER10", "amount": "3.00"}, …]``: each code's share of discount_total
    discounts = models.JSONField(default=list, blank=True, editable=False)
    payment_token = models.CharField(max_length=200, blank=True, editable=False)
    payment_mode = models.CharField(
        max_length=20, choices=PaymentMode.choices, default=PaymentMode.CHARGE, editable=False
    )
    #: the shop's own payment's reference when it was paid externally
    payment_reference = models.CharField(max_length=100, blank=True, editable=False)
    #: unique by the constraint below, not ``unique=True``: that would add a second,
    #: ``varchar_pattern_ops`` index for LIKE, which no token lookup uses
    tracking_token = models.CharField(max_length=64, default=_tracking_token, editable=False)
    status_reason = models.CharField(max_length=500, blank=True, editable=False)
    #: the latest shipment's carrier and tracking number, kept for the clients and pages
    #: that show one parcel; an order's parcels are its ``shipments`` (``models.shipments``)
    carrier = models.CharField(max_length=50, blank=True, editable=False)
    #: not indexed: nothing looks an order up by it (parcels are found through ``Shipment``,
    #: the admin's search is a substring match no b-tree serves)
    tracking_number = models.CharField(max_length=64, blank=True, editable=False)
    #: the shop's own reference for the order (its checkout's id): unique per shop when set
    external_reference = models.CharField(max_length=100, blank=True, default="", editable=False)
    #: the shop's own key-value strings, like Stripe's (rules: ``orders.api.serializers``)
    metadata = models.JSONField(default=dict, blank=True, editable=False)
    #: bumped by every transition; a stale writer's conditional update matches no row
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "number"], name="order_unique_shop_number"),
            models.UniqueConstraint(fields=["tracking_token"], name="order_unique_tracking_token"),
            # The shop's reference names one order: the constraint, not a check before the
            # insert, decides between two parallel orders with the same reference.
            models.UniqueConstraint(
                fields=["shop", "external_reference"],
                condition=~models.Q(external_reference=""),
                name="order_unique_shop_external_reference",
            ),
            models.CheckConstraint(
                condition=models.Q(total__gte=0), name="order_total_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["shop", "-created_at"], name="order_shop_created"),
            models.Index(fields=["shop", "status"], name="order_shop_status"),
            # ?updated_after= of a shop's order list (a shop's sync polls it)
            models.Index(fields=["shop", "updated_at"], name="order_shop_updated"),
            models.Index(fields=["customer_email"], name="order_customer_email"),
        ]

    def __str__(self) -> str:
        return self.number


class ShopCarrier(models.Model):
    """A carrier a shop ships with: only its shops' parcels may take the carrier's reports."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="carriers")
    carrier = models.CharField(
        max_length=50,
        validators=[carrier_name_validator],
        help_text="The carrier's name as it signs its reports (a name in CARRIER_SECRETS).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["shop", "carrier"]
        constraints = [
            models.UniqueConstraint(
                "shop", Lower("carrier"), name="shopcarrier_unique_shop_carrier"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.shop} ships with {self.carrier}"


class CarrierReport(models.Model):
    """A status a carrier reported, kept under the carrier's own event id.

    The row commits with the report's effect, so a replayed or retried report (same
    carrier, same event id) meets the unique key and changes nothing.
    """

    carrier = models.CharField(max_length=50)
    event_id = models.CharField(max_length=100)
    order = models.ForeignKey("Order", on_delete=models.CASCADE, related_name="carrier_reports")
    #: the parcel the report was about; None for reports kept before shipments existed
    shipment = models.ForeignKey(
        Shipment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="carrier_reports",
    )
    status = models.CharField(max_length=20)
    #: indexed for the purge (``CARRIER_REPORTS_RETENTION_DAYS``)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "event_id"], name="carrierreport_unique_carrier_event"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.event_id}: {self.status}"


class OrderLine(models.Model):
    #: no index of its own: ``orderline_unique_order_sku`` leads with the order
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    unit_price = MoneyField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField()
    discount_amount = MoneyField(max_digits=14, decimal_places=2, default=0)
    #: unit price x quantity - discount, in the order's price basis
    line_total = MoneyField(max_digits=14, decimal_places=2)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=4, default=0)
    tax_amount = MoneyField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "sku"], name="orderline_unique_order_sku"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="orderline_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


class OrderTransition(models.Model):
    """One status change of an order: who asked, why, and in which request or event chain."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20, choices=OrderStatus.choices)
    to_status = models.CharField(max_length=20, choices=OrderStatus.choices)
    actor = models.CharField(max_length=100, help_text="system, shop-key:<prefix>, staff:<user>")
    reason = models.CharField(max_length=500, blank=True)
    correlation_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} -> {self.to_status}"


# imported here so that Django finds it; ``orders.services.stock`` writes it
from .restocks import StockRestock  # noqa: E402

__all__ += ["StockRestock"]

# imported here so that Django finds them; ``orders.services.carrier_accounts`` writes them
from .carrier_accounts import CarrierAccount, ParcelPoll  # noqa: E402

__all__ += ["CarrierAccount", "ParcelPoll"]
