from rest_framework import serializers

from ..models import Invoice


class InvoiceLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    quantity = serializers.IntegerField()
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)


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
            "subtotal",
            "tax_rate",
            "tax",
            "total",
            "issued_at",
            "credit_note",
        ]

    def get_credit_note(self, invoice: Invoice) -> dict | None:
        credit_note = getattr(invoice, "credit_note", None)
        return CreditNoteOutputSerializer(credit_note).data if credit_note else None
