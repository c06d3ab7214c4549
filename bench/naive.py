"""The naive baseline: a plain DRF ``ModelViewSet`` create on the same models.

No Idempotency-Key, no outbox row, no event: the order and its lines, priced from the
catalog, as a textbook DRF app would write them. The bench serves it from the same
gunicorn as the real intake (``bench/urls.py``) and drives it with the same wrk script,
so the difference between the two rates is what idempotency and the outbox cost.
Bench-only: the app never routes here.
"""

from decimal import Decimal

from django.db import transaction
from rest_framework import serializers, viewsets

from orders.models import Order, OrderLine, Product


class NaiveLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["sku", "name", "unit_price", "quantity", "line_total"]
        read_only_fields = ["name", "unit_price", "line_total"]


class NaiveCustomerSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254)


class NaivePaymentSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)


class NaiveOrderSerializer(serializers.ModelSerializer):
    customer = NaiveCustomerSerializer(write_only=True)
    payment = NaivePaymentSerializer(write_only=True)
    lines = NaiveLineSerializer(many=True)

    class Meta:
        model = Order
        fields = [
            "id", "number", "status", "currency", "subtotal", "total", "customer",
            "shipping_address", "lines", "payment", "created_at",
        ]  # fmt: skip
        read_only_fields = ["currency", "subtotal", "total"]

    @transaction.atomic
    def create(self, validated_data):
        shop = self.context["request"].user.shop
        lines = validated_data.pop("lines")
        products = {
            p.sku: p
            for p in Product.objects.filter(shop=shop, sku__in=[line["sku"] for line in lines])
        }
        unknown = [line["sku"] for line in lines if line["sku"] not in products]
        if unknown:
            raise serializers.ValidationError({"lines": f"Unknown SKUs: {unknown}"})
        subtotal = sum(
            (products[line["sku"]].price * line["quantity"] for line in lines), Decimal("0.00")
        )
        customer = validated_data.pop("customer")
        order = Order.objects.create(
            shop=shop,
            customer_name=customer["name"],
            customer_email=customer["email"],
            shipping_address=validated_data["shipping_address"],
            currency=shop.currency,
            subtotal=subtotal,
            total=subtotal,
            payment_token=validated_data.pop("payment")["token"],
        )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product=products[line["sku"]],
                sku=line["sku"],
                name=products[line["sku"]].name,
                unit_price=products[line["sku"]].price,
                quantity=line["quantity"],
                line_total=products[line["sku"]].price * line["quantity"],
            )
            for line in lines
        )
        return order


class NaiveOrderViewSet(viewsets.ModelViewSet):
    serializer_class = NaiveOrderSerializer

    def get_queryset(self):
        return Order.objects.filter(shop=self.request.user.shop)
