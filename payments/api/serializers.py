from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orderflow.api.serializers import StrictInputSerializer

from ..models import Invoice, Refund


class InvoiceLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    quantity = serializers.IntegerField()
    discount_amount = serializers.DecimalField(max_digits=14, decimal_places=2, default="0.00")
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=4, required=False)
    tax_amount = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)


class InvoiceTaxBandOutputSerializer(serializers.Serializer):
    rate = serializers.DecimalField(max_digits=5, decimal_places=4)
    net = serializers.DecimalField(max_digits=14, decimal_places=2)
    tax = serializers.DecimalField(max_digits=14, decimal_places=2)


class InvoicePartyOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    legal_name = serializers.CharField(required=False)
    email = serializers.CharField()
    address = serializers.CharField()
    tax_id = serializers.CharField(required=False)


class CreditNoteOutputSerializer(serializers.ModelSerializer):
    refund_id = serializers.UUIDField(
        allow_null=True, help_text="The refund it documents; null: the order's cancellation."
    )

    class Meta:
        model = Invoice
        fields = ["id", "number", "subtotal", "tax", "total", "currency", "issued_at", "refund_id"]


class InvoiceOutputSerializer(serializers.ModelSerializer):
    seller = InvoicePartyOutputSerializer()
    buyer = InvoicePartyOutputSerializer()
    lines = InvoiceLineOutputSerializer(many=True)
    taxes = InvoiceTaxBandOutputSerializer(
        many=True, help_text="Net and tax per rate; they add up to subtotal and tax."
    )
    tax_rate = serializers.DecimalField(
        max_digits=5,
        decimal_places=4,
        allow_null=True,
        help_text="The one rate when every line and shipping share it; null otherwise.",
    )
    credit_note = serializers.SerializerMethodField(
        help_text="The credit note that cancelled the rest of the invoice when the order was "
        "cancelled; null while it is not."
    )
    credit_notes = serializers.SerializerMethodField(
        help_text="Every credit note of the invoice, oldest first: one per refund, and the "
        "cancellation's."
    )

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "kind",
            "order_id",
            "order_number",
            "seller",
            "buyer",
            "lines",
            "currency",
            "discount_total",
            "shipping_total",
            "subtotal",
            "tax_rate",
            "taxes",
            "tax",
            "total",
            "issued_at",
            "credit_note",
            "credit_notes",
        ]

    @extend_schema_field(CreditNoteOutputSerializer(allow_null=True))
    def get_credit_note(self, invoice: Invoice) -> dict | None:
        cancellation = next((c for c in self._credit_notes(invoice) if c.is_cancellation), None)
        return CreditNoteOutputSerializer(cancellation).data if cancellation else None

    @extend_schema_field(CreditNoteOutputSerializer(many=True))
    def get_credit_notes(self, invoice: Invoice) -> list[dict]:
        return CreditNoteOutputSerializer(self._credit_notes(invoice), many=True).data

    @staticmethod
    def _credit_notes(invoice: Invoice) -> list[Invoice]:
        # prefetched by the selector: one query for all of them
        return sorted(invoice.credit_notes.all(), key=lambda c: c.sequence)


class RefundLineInputSerializer(StrictInputSerializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)


class RefundCreateInputSerializer(StrictInputSerializer):
    """A refund of an ``amount``, or of ``lines`` (their share, tax and discount included)."""

    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), required=False
    )
    lines = RefundLineInputSerializer(many=True, required=False, min_length=1, max_length=500)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    restock = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Put the lines' units back on hand (lines of a shipped order only).",
    )

    def validate(self, attrs):
        if ("amount" in attrs) == ("lines" in attrs):
            raise serializers.ValidationError(
                {"amount": ["Send either amount or lines, not both and not neither."]}
            )
        if attrs["restock"] and "amount" in attrs:
            raise serializers.ValidationError(
                {
                    "restock": [
                        "Only a refund of lines puts units back on hand; send lines, or "
                        "leave restock out."
                    ]
                }
            )
        return attrs


class RefundOutputSerializer(serializers.ModelSerializer):
    lines = RefundLineInputSerializer(many=True)
    credit_note = serializers.SerializerMethodField(
        help_text="The number of the refund's credit note; null for a failed refund, or an "
        "order cancelled before it was invoiced."
    )

    class Meta:
        model = Refund
        fields = [
            "id",
            "amount",
            "currency",
            "status",
            "reason",
            "lines",
            "restock",
            "credit_note",
            "created_at",
        ]

    def get_credit_note(self, refund: Refund) -> str | None:
        credit_note = getattr(refund, "credit_note", None)
        return credit_note.number if credit_note else None
