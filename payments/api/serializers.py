from decimal import Decimal

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
    class Meta:
        model = Invoice
        fields = ["id", "number", "subtotal", "tax", "total", "currency", "issued_at"]


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
    credit_note = serializers.SerializerMethodField()

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
        ]

    def get_credit_note(self, invoice: Invoice) -> dict | None:
        credit_note = getattr(invoice, "credit_note", None)
        return CreditNoteOutputSerializer(credit_note).data if credit_note else None


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

    def validate(self, attrs):
        if ("amount" in attrs) == ("lines" in attrs):
            raise serializers.ValidationError(
                {"amount": ["Send either amount or lines, not both and not neither."]}
            )
        return attrs


class RefundOutputSerializer(serializers.ModelSerializer):
    lines = RefundLineInputSerializer(many=True)

    class Meta:
        model = Refund
        fields = ["id", "amount", "currency", "status", "reason", "lines", "created_at"]
