"""The shops' API of returns: ask for one on a shipped order, list an order's returns."""

from uuid import UUID

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orderflow.api.serializers import StrictInputSerializer

from .. import selectors
from ..models import Order, Return
from ..services import returns

NO_ORDER = "No such order for this shop."


class ReturnLineInputSerializer(StrictInputSerializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)


class ReturnCreateInputSerializer(StrictInputSerializer):
    """Units of the order's lines coming back, and why."""

    lines = ReturnLineInputSerializer(many=True, min_length=1, max_length=500)
    reason = serializers.CharField(max_length=500)


class ReturnLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField()


class ReturnOutputSerializer(serializers.ModelSerializer):
    order_id = serializers.UUIDField()
    lines = ReturnLineOutputSerializer(many=True)
    restock = serializers.BooleanField(allow_null=True)

    class Meta:
        model = Return
        fields = [
            "id",
            "order_id",
            "number",
            "status",
            "reason",
            "lines",
            "rejection_reason",
            "restock",
            "refunded_amount",
            "requested_by",
            "decided_by",
            "received_by",
            "settled_by",
            "requested_at",
            "decided_at",
            "received_at",
            "settled_at",
        ]


RETURN_EXAMPLE = {
    "id": "8d9f3c52-0d5e-4a43-9d2b-1f6f7a0e2b11",
    "order_id": "2f1c7a4e-93a1-4c55-8f43-6c0b8d1e9a70",
    "number": 1,
    "status": "requested",
    "reason": "The mug arrived chipped.",
    "lines": [{"sku": "MUG", "quantity": 1}],
    "rejection_reason": "",
    "restock": None,
    "refunded_amount": "0.00",
    "requested_by": "shop-key:Ab12Cd34",
    "decided_by": "",
    "received_by": "",
    "settled_by": "",
    "requested_at": "2026-12-04T10:15:00Z",
    "decided_at": None,
    "received_at": None,
    "settled_at": None,
}


class OrderReturnListCreateApi(APIView):
    """An order's returns (oldest first), and a new return of units it shipped."""

    @extend_schema(
        operation_id="orders_returns_list",
        summary="List an order's returns",
        description="Every return of the order, oldest first, with its lines, status and "
        "who took each step (requested, approved or rejected, received, refunded or closed).",
        responses={
            200: ReturnOutputSerializer(many=True),
            404: OpenApiResponse(description="No such order of the shop."),
        },
        examples=[OpenApiExample("One return", value=RETURN_EXAMPLE, response_only=True)],
    )
    def get(self, request, order_id: str):
        try:
            order_returns = selectors.return_list_for_order(
                order_id=UUID(order_id), shop_id=int(request.user.tenant_id)
            )
        except (ValueError, Order.DoesNotExist):
            raise Http404(NO_ORDER) from None
        return Response(ReturnOutputSerializer(order_returns, many=True).data)

    @extend_schema(
        operation_id="orders_returns_create",
        summary="Ask for a return",
        description="Open a return of units that left in the order's parcels (an order "
        "partly shipped, shipped, out for delivery or delivered): each line names a SKU of "
        "the order and how many units come back (at most the line's units in its parcels "
        "less those of its other returns, rejected ones excepted). Staff "
        "then approve or reject it, mark it received (restocked or not) and refund it. "
        "Publishes `return.requested`; the customer is e-mailed.",
        request=ReturnCreateInputSerializer,
        responses={
            201: ReturnOutputSerializer,
            400: OpenApiResponse(
                description="An RFC 9457 problem: a field, a SKU not on the order or listed "
                "twice, more units than may still be returned."
            ),
            404: OpenApiResponse(description="No such order of the shop."),
            409: OpenApiResponse(
                description="An RFC 9457 problem: the order has not shipped (or was "
                "cancelled or rejected); nothing is opened."
            ),
        },
        examples=[
            OpenApiExample(
                "One chipped mug",
                value={"lines": [{"sku": "MUG", "quantity": 1}], "reason": "Arrived chipped."},
                request_only=True,
            ),
            OpenApiExample("The return opened", value=RETURN_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request, order_id: str):
        try:
            order_uuid = UUID(order_id)
        except ValueError:
            raise Http404(NO_ORDER) from None
        serializer = ReturnCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            order_return = returns.return_request(
                order_id=order_uuid,
                shop_id=int(request.user.tenant_id),
                lines=[returns.ReturnLineInput(**line) for line in data["lines"]],
                reason=data["reason"],
                actor=request.user.actor,
            )
        except Order.DoesNotExist:
            raise Http404(NO_ORDER) from None
        return Response(ReturnOutputSerializer(order_return).data, status=status.HTTP_201_CREATED)
