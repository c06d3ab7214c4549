"""Input validation and output shapes of the shops' API; business rules live in services."""

import copy
import re
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orderflow.api.serializers import STORABLE_TEXT_PATTERN, StrictInputSerializer
from payments.interface import PaymentState, payment_states

from .. import state_machine
from ..choices import Locale
from ..models import Order, OrderLine, Product, currency_validator, sku_validator
from ..models.price_rules import code_validator, tax_class_validator
from ..selectors import NOT_SHIPPED
from ..services.intake import MAX_LINES, MAX_QUANTITY
from .shipment_serializers import ShipmentOutputSerializer


# --- orders: input ------------------------------------------------------------------------------
class OrderCustomerInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254)
    locale = serializers.ChoiceField(
        choices=Locale.values,
        required=False,
        help_text="What the customer reads (e-mails, tracking page); default: the shop's language.",
    )


class ShippingAddressSerializer(StrictInputSerializer):
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20)
    country = serializers.RegexField(
        r"^[A-Z]{2}$", max_length=2, error_messages={"invalid": "Use an ISO 3166 code, e.g. BR."}
    )


class OrderLineInputSerializer(StrictInputSerializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


# --- the shop's own data on an order: metadata (Stripe's rules) and its reference ----------------
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_LENGTH = 40
METADATA_VALUE_MAX_LENGTH = 500
EXTERNAL_REFERENCE_MAX_LENGTH = Order._meta.get_field("external_reference").max_length
#: what the schema states of a reference; the validator below is stricter (no character a
#: Python string calls unprintable), so nothing outside the pattern is ever accepted
EXTERNAL_REFERENCE_PATTERN = (
    r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
)


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": METADATA_MAX_KEYS,
        "additionalProperties": {
            "type": "string",
            "maxLength": METADATA_VALUE_MAX_LENGTH,
            "pattern": STORABLE_TEXT_PATTERN,
        },
        "description": f"The shop's own key-value strings: at most {METADATA_MAX_KEYS} keys "
        f"of 1 to {METADATA_KEY_MAX_LENGTH} characters, each value a string of at most "
        f"{METADATA_VALUE_MAX_LENGTH} characters. Stored and answered as sent; OrderFlow "
        "never reads it.",
        "example": {"checkout_id": "chk_8812", "channel": "web"},
    }
)
class MetadataField(serializers.Field):
    """A JSON object of strings, by Stripe's rules; every broken rule is named with its key.

    Written out rather than a ``DictField`` of ``CharField``: those take a number for a
    string (``"7"`` from ``7``) and a key of any length. The lean intake runs this same
    ``to_internal_value`` (``orders/api/lean.py``), so both paths keep one set of rules.
    """

    max_keys = METADATA_MAX_KEYS
    default_error_messages = {
        "not_an_object": "Send metadata as a JSON object of strings.",
        "max_keys": "At most {max} keys; {count} were sent.",
        "key_length": "Key {name!r}: a key is 1 to {max} characters.",
        "not_a_string": "Key {name!r}: a value is a string.",
        "value_length": "Key {name!r}: a value is at most {max} characters.",
        "null_characters": "Key {name!r}: the key and its value may not contain NUL characters.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_an_object")
        if len(data) > METADATA_MAX_KEYS:
            self.fail("max_keys", max=METADATA_MAX_KEYS, count=len(data))
        errors = []
        for key, value in data.items():
            try:
                self._check(key, value)
            except serializers.ValidationError as error:
                errors.extend(error.detail)
        if errors:
            raise serializers.ValidationError(errors)
        return dict(data)

    def _check(self, key, value) -> None:
        if not 1 <= len(key) <= METADATA_KEY_MAX_LENGTH:
            self.fail("key_length", name=key, max=METADATA_KEY_MAX_LENGTH)
        if not isinstance(value, str):
            self.fail("not_a_string", name=key)
        if len(value) > METADATA_VALUE_MAX_LENGTH:
            self.fail("value_length", name=key, max=METADATA_VALUE_MAX_LENGTH)
        if "\x00" in key or "\x00" in value:  # PostgreSQL's jsonb cannot store them
            self.fail("null_characters", name=key)

    def to_representation(self, value):
        return value


def validate_external_reference(value: str) -> None:
    """Printable characters only, no space at either end: a reference is compared exactly."""
    if not value.isprintable():
        raise DjangoValidationError(
            "Use printable characters only (no control, format or line-break characters).",
            code="not_printable",
        )
    if value != value.strip():
        raise DjangoValidationError(
            "No space at the start or end of a reference.", code="surrounding_space"
        )


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": EXTERNAL_REFERENCE_MAX_LENGTH,
        "pattern": EXTERNAL_REFERENCE_PATTERN,
    }
)
class ExternalReferenceField(serializers.CharField):
    default_validators = [validate_external_reference]

    def __init__(self, **kwargs):
        super().__init__(max_length=EXTERNAL_REFERENCE_MAX_LENGTH, **kwargs)


#: a price as the API takes it: a JSON string of digits with up to 2 decimals, what a
#: numeric(12,2) holds; the schema states this exact pattern
PRICE_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": PRICE_PATTERN, "example": "9.90"}
)
class PriceInputField(serializers.DecimalField):
    """A price written plainly: ``"9.90"``, never a JSON number, ``"1e1"`` or ``" 9.9 "``.

    DRF's DecimalField takes any of those, so the API accepted far more than its schema
    said (and a float is the wrong type for money). DRF's own checks run first, so an
    out-of-range or over-precise price keeps its specific error.
    """

    default_error_messages = {
        "not_plain": 'Send the price as a string of digits with up to 2 decimals, e.g. "9.90".'
    }

    def __init__(self, **kwargs):
        super().__init__(max_digits=12, decimal_places=2, min_value=0, **kwargs)

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        if not isinstance(data, str) or not re.fullmatch(PRICE_PATTERN, data):
            self.fail("not_plain")
        return value


class OrderPaymentInputSerializer(StrictInputSerializer):
    """``{"token": …}`` to charge through the gateway, or ``{"external_reference", "amount"}``
    for a payment the shop took at its own checkout (recorded, never charged)."""

    token = serializers.CharField(
        max_length=200, required=False, help_text="The gateway's card token: OrderFlow charges it."
    )
    external_reference = serializers.CharField(
        max_length=100,
        required=False,
        trim_whitespace=False,
        validators=[validate_external_reference],
        help_text="The shop's own payment's reference: the order was paid at its checkout.",
    )
    amount = PriceInputField(
        required=False,
        help_text="What the shop took, with external_reference: it must equal the order's total.",
    )

    def validate(self, attrs):
        if "token" in attrs:
            if "external_reference" in attrs or "amount" in attrs:
                raise serializers.ValidationError(
                    "Send either a token, or external_reference and amount, not both.",
                    code="payment_modes",
                )
        elif not ("external_reference" in attrs and "amount" in attrs):
            raise serializers.ValidationError(
                "Send a token (OrderFlow charges it), or external_reference and amount (the "
                "shop was paid at its checkout).",
                code="payment_required",
            )
        return attrs


#: codes an order may name at once
MAX_DISCOUNT_CODES = 5


class OrderCreateInputSerializer(StrictInputSerializer):
    """An order as a shop sends it; prices and totals are never read from the request."""

    customer = OrderCustomerInputSerializer()
    shipping_address = ShippingAddressSerializer()
    lines = OrderLineInputSerializer(many=True, min_length=1, max_length=MAX_LINES)
    payment = OrderPaymentInputSerializer()
    metadata = MetadataField(required=False)
    external_reference = ExternalReferenceField(
        required=False,
        help_text="The shop's own id for the order (its checkout's), unique in the shop: a "
        "second order with it is a 409 external-reference-taken naming the first.",
    )
    shipping_method = serializers.CharField(
        max_length=40,
        required=False,
        trim_whitespace=False,
        validators=[code_validator],
        help_text="The code of one of the shop's shipping methods; left out, the shop's "
        "default method, and required when the shop has methods but no default. A method "
        "that does not ship to the address's country is a 400 naming it.",
    )
    discount_codes = serializers.ListField(
        child=serializers.CharField(
            max_length=40, trim_whitespace=False, validators=[code_validator]
        ),
        required=False,
        max_length=MAX_DISCOUNT_CODES,
        help_text="Discount codes of the shop (case-insensitive), applied in this order. A "
        "code whose uses ran out meanwhile is a 409 discount-exhausted; one this customer "
        "already used, 409 discount-already-used; nothing is placed.",
    )


class OrderUpdateInputSerializer(StrictInputSerializer):
    """What a shop may change on its order: its metadata, replaced as a whole.

    A field left out is left unchanged, as PATCH means: ``{}`` changes nothing.
    """

    metadata = MetadataField(
        required=False,
        help_text="Replaces the order's metadata as a whole ({} removes every key).",
    )


class OrderShipInputSerializer(StrictInputSerializer):
    carrier = serializers.CharField(
        max_length=50,
        help_text="A carrier the shop ships with (support binds them to the shop); another "
        "is a 400 naming this field.",
    )
    tracking_number = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9\-]{3,63}$",
        error_messages={"invalid": "Use 4 to 64 letters, digits or dashes."},
        help_text="The carrier's number for the parcel; one already on a parcel of this "
        "carrier that is not yet delivered is a 409 tracking-number-in-use.",
    )


class OrderActionInputSerializer(StrictInputSerializer):
    """The body of an action that takes no fields: empty, or ``{}``; any field is unknown."""


class OrderCancelInputSerializer(StrictInputSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


# --- orders: output -----------------------------------------------------------------------------
class FieldsBuiltOnce:
    """Build a ModelSerializer's fields from its model once per class, not once per response.

    ``ModelSerializer.get_fields()`` introspects the model and builds every field on each
    instantiation: two thirds of rendering an order. The fields depend on the class alone,
    so each instance gets a deep copy of the first build, as DRF does for declared fields.
    """

    def get_fields(self):
        cls = type(self)
        if "_fields_built" not in cls.__dict__:
            cls._fields_built = super().get_fields()
        return copy.deepcopy(cls._fields_built)


def _money_output(**kwargs) -> serializers.DecimalField:
    """An amount as stored, whatever its size.

    DRF renders a DecimalField by rounding in a context of ``max_digits`` digits, which
    raises on a larger value: one over-large row stored in embedded mode (SQLite keeps
    what PostgreSQL refuses) made the shop's order list a 500 for good. Output never
    validates, so it has no digit bound.
    """
    return serializers.DecimalField(max_digits=None, decimal_places=2, read_only=True, **kwargs)


class OrderCustomerOutputSerializer(serializers.Serializer):
    name = serializers.CharField(source="customer_name")
    email = serializers.EmailField(source="customer_email")
    locale = serializers.CharField(source="customer_locale")


class OrderLineOutputSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    unit_price = _money_output()
    discount_amount = _money_output(help_text="The line's share of the order's discounts.")
    line_total = _money_output(help_text="unit_price x quantity - discount_amount.")
    tax_rate = serializers.DecimalField(
        max_digits=5, decimal_places=4, read_only=True, help_text="As a fraction: 0.2 is 20 %."
    )
    tax_amount = _money_output(help_text="The tax in (or on) line_total, rounded per line.")

    class Meta:
        model = OrderLine
        fields = [
            "sku",
            "name",
            "unit_price",
            "quantity",
            "discount_amount",
            "line_total",
            "tax_rate",
            "tax_amount",
        ]


class AppliedDiscountOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    amount = serializers.DecimalField(max_digits=None, decimal_places=2)


class OrderOutputSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    prices_include_tax = serializers.BooleanField(
        read_only=True,
        help_text="Whether the amounts include tax (the shop's catalog did when the order "
        "was placed); if not, total adds tax_total.",
    )
    subtotal = _money_output(help_text="The lines before discounts.")
    discount_total = _money_output()
    discounts = AppliedDiscountOutputSerializer(
        many=True, read_only=True, help_text="Each code's share of discount_total."
    )
    shipping_method = serializers.CharField(read_only=True, help_text="Its code; empty if none.")
    payment_mode = serializers.CharField(
        read_only=True, help_text="charge, capture_on_shipment or external."
    )
    payment_status = serializers.SerializerMethodField(
        help_text="pending, authorized, captured, failed, voided, partially_refunded, refunded."
    )
    refunded_total = serializers.SerializerMethodField()
    shipping_total = _money_output()
    tax_total = _money_output(help_text="The lines' and shipping's tax.")
    total = _money_output(
        help_text="subtotal - discount_total + shipping_total (+ tax_total when prices "
        "exclude tax)."
    )
    status_reason = serializers.CharField(
        read_only=True,
        help_text="Why the order was cancelled or rejected; empty otherwise.",
    )
    external_reference = serializers.CharField(
        read_only=True, help_text="The shop's own reference for the order; empty if none."
    )
    metadata = serializers.DictField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The shop's own key-value strings, as last sent.",
    )
    customer = OrderCustomerOutputSerializer(source="*")
    shipping_address = ShippingAddressSerializer()
    lines = OrderLineOutputSerializer(many=True)
    allowed_actions = serializers.SerializerMethodField()
    carrier = serializers.CharField(
        read_only=True, help_text="The latest parcel's carrier; empty before the first."
    )
    tracking_number = serializers.CharField(
        read_only=True, help_text="The latest parcel's tracking number; empty before the first."
    )
    shipments = serializers.SerializerMethodField(help_text="The order's parcels, oldest first.")
    tracking_url = serializers.SerializerMethodField(
        help_text="The public tracking page of the order, for the customer (no login)."
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "number",
            "external_reference",
            "status",
            "status_reason",
            "currency",
            "prices_include_tax",
            "subtotal",
            "discount_total",
            "discounts",
            "shipping_method",
            "shipping_total",
            "tax_total",
            "total",
            "payment_mode",
            "payment_status",
            "refunded_total",
            "customer",
            "shipping_address",
            "lines",
            "allowed_actions",
            "carrier",
            "tracking_number",
            "shipments",
            "tracking_url",
            "metadata",
            "created_at",
            "updated_at",
        ]

    def _payment(self, order: Order) -> PaymentState:
        """The order's payment state: given with the order (:func:`order_documents`), from
        the view's batch (``context["payments"]``, one query per page) or, for a lone order,
        its own query."""
        given = getattr(order, PAYMENT_STATE, None)
        if given is not None:
            return given
        states = self.context.setdefault("payments", {})
        if order.pk not in states:
            states.update(payment_states(order_ids=[order.pk]))
        return states[order.pk]

    def get_payment_status(self, order: Order) -> str:
        return self._payment(order).status

    @extend_schema_field({"type": "string", "format": "decimal", "example": "0.00"})
    def get_refunded_total(self, order: Order) -> str:
        return f"{self._payment(order).refunded_amount:.2f}"

    @extend_schema_field(ShipmentOutputSerializer(many=True))
    def get_shipments(self, order: Order) -> list[dict]:
        # an order that has not shipped has no parcel: no query for a new order's answer
        if order.status in NOT_SHIPPED and "shipments" not in getattr(
            order, "_prefetched_objects_cache", {}
        ):
            return []
        shipments = order.shipments.all()  # a list page's prefetched parcels: no query
        if not shipments:  # most of a list page: no serializer built for nothing to show
            return []
        return ShipmentOutputSerializer(shipments, many=True).data

    def get_allowed_actions(self, order: Order) -> list[str]:
        return state_machine.allowed_actions(order.status)

    def get_tracking_url(self, order: Order) -> str:
        return settings.PUBLIC_BASE_URL + reverse("tracking:public", args=[order.tracking_token])


#: the attribute of an order carrying its payment state into :func:`order_documents`
PAYMENT_STATE = "_output_payment_state"
_documents: list[OrderOutputSerializer] = []


def order_documents(orders: Sequence[Order]) -> list[dict]:
    """``OrderOutputSerializer``'s document of each order, as its ``.data`` gives it.

    A serializer instance deep-copies its tree of fields and binds them again for every
    response (≈ a quarter of the CPU of reading one order); these documents come from one
    instance per process, built once, which holds nothing of a request: each order carries
    its payment state (read here for all of them in one query) and no context is used.
    """
    if not _documents:
        shared = OrderOutputSerializer()
        shared.fields  # noqa: B018 (built now, once, before threads share it)
        _documents.append(shared)
    missing = [order.pk for order in orders if getattr(order, PAYMENT_STATE, None) is None]
    states = payment_states(order_ids=missing) if missing else {}
    for order in orders:
        if order.pk in states:
            setattr(order, PAYMENT_STATE, states[order.pk])
    return [_documents[0].to_representation(order) for order in orders]


# --- products -------------------------------------------------------------------------------------
TAX_CLASS_HELP = "standard (the default), reduced, zero, or a class of the shop's tax rates."
WEIGHT_HELP = "Grams, for shipping methods priced by weight."


class ProductCreateInputSerializer(StrictInputSerializer):
    sku = serializers.CharField(max_length=64, validators=[sku_validator])
    name = serializers.CharField(max_length=200)
    price = PriceInputField()
    currency = serializers.CharField(max_length=3, required=False, validators=[currency_validator])
    stock = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)
    tax_class = serializers.CharField(
        max_length=30, required=False, validators=[tax_class_validator], help_text=TAX_CLASS_HELP
    )
    weight_grams = serializers.IntegerField(
        min_value=0, max_value=10_000_000, required=False, help_text=WEIGHT_HELP
    )


class ProductUpdateInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    price = PriceInputField(required=False)
    stock = serializers.IntegerField(min_value=0, max_value=10_000_000, required=False)
    tax_class = serializers.CharField(
        max_length=30, required=False, validators=[tax_class_validator], help_text=TAX_CLASS_HELP
    )
    weight_grams = serializers.IntegerField(
        min_value=0, max_value=10_000_000, required=False, help_text=WEIGHT_HELP
    )


class ProductOutputSerializer(serializers.ModelSerializer):
    stock = serializers.IntegerField(source="on_hand", help_text="Units on hand.")
    available = serializers.IntegerField(help_text="Units on hand not reserved for open orders.")

    class Meta:
        model = Product
        fields = [
            "sku",
            "name",
            "price",
            "currency",
            "tax_class",
            "weight_grams",
            "stock",
            "reserved",
            "available",
        ]
