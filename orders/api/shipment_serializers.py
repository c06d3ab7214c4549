"""Input and output shapes of an order's shipments (its parcels) in the shops' API."""

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from orderflow.api.serializers import StrictInputSerializer

from ..choices import ShipmentStatus
from ..models import Shipment, ShipmentLine
from ..services.intake import MAX_LINES, MAX_QUANTITY

TRACKING_NUMBER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9\-]{3,63}$"


class ShipmentLineInputSerializer(StrictInputSerializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


class ShipmentCreateInputSerializer(StrictInputSerializer):
    """One parcel: its lines (all that remains when left out), carrier and number."""

    lines = ShipmentLineInputSerializer(
        many=True,
        required=False,
        allow_empty=False,
        max_length=MAX_LINES,
        help_text="SKUs and units in the parcel, each SKU once; left out: everything that "
        "remains to ship. A SKU the order does not have is a 400; more units than remain "
        "is a 409 shipment-exceeds-order naming the SKU.",
    )
    carrier = serializers.CharField(
        max_length=50,
        help_text="A carrier the shop ships with (support binds them to the shop); another "
        "is a 400 naming this field.",
    )
    tracking_number = serializers.RegexField(
        TRACKING_NUMBER_PATTERN,
        error_messages={"invalid": "Use 4 to 64 letters, digits or dashes."},
        help_text="The carrier's number for the parcel; one already on a parcel of this "
        "carrier that is not yet delivered is a 409 tracking-number-in-use.",
    )
    service = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,49}$",
        required=False,
        default="",
        error_messages={"invalid": "Use 1 to 50 letters, digits, dashes or underscores."},
        help_text="The carrier's product (express, economy…), as the shop names it.",
    )

    def validate_lines(self, lines: list[dict]) -> list[dict]:
        seen: set[str] = set()
        for line in lines:
            if line["sku"] in seen:
                raise serializers.ValidationError(
                    f"SKU {line['sku']!r} is on more than one line; name each SKU once.",
                    code="duplicate_sku",
                )
            seen.add(line["sku"])
        return lines


class ShipmentLineOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ShipmentLine
        fields = ["sku", "quantity"]


class ShipmentOutputSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(
        choices=ShipmentStatus.choices,
        read_only=True,
        help_text="in_transit, out_for_delivery, delivery_failed, held, returned_to_sender or "
        "delivered: what the "
        "carrier last reported.",
    )
    lines = ShipmentLineOutputSerializer(many=True, read_only=True)
    eta = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the carrier expects to deliver; null until it says.",
    )
    tracking_url = serializers.SerializerMethodField(
        help_text="The customer's tracking page of the order, which lists every parcel."
    )

    class Meta:
        model = Shipment
        fields = [
            "id",
            "status",
            "carrier",
            "service",
            "tracking_number",
            "lines",
            "eta",
            "tracking_url",
            "created_at",
            "updated_at",
        ]

    def get_tracking_url(self, shipment: Shipment) -> str:
        return settings.PUBLIC_BASE_URL + reverse(
            "tracking:public", args=[shipment.order.tracking_token]
        )
