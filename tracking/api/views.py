"""The tracking API of the shops: each view parses, calls one service, and renders."""

from uuid import UUID

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from .serializers import OrderTrackingOutputSerializer

TRACKING_EXAMPLE = {
    "status": "shipped",
    "status_label": "Shipped",
    "sequence": 6,
    "updated_at": "2026-11-25T14:02:11.408120+00:00",
    "next_step": "Out for delivery",
    "history": [
        {
            "id": 41,
            "status": "placed",
            "label": "Order placed",
            "aggregate": "order",
            "sequence": 1,
            "occurred_at": "2026-11-25T10:53:32.345268+00:00",
            "source": "shop",
            "note": "",
            "location": "",
            "shipment_id": None,
            "tracking_number": "",
        },
        {
            "id": 44,
            "status": "payment_captured",
            "label": "Payment captured",
            "aggregate": "payment",
            "sequence": 1,
            "occurred_at": "2026-11-25T10:53:33.012884+00:00",
            "source": "system",
            "note": "",
            "location": "",
            "shipment_id": None,
            "tracking_number": "",
        },
        {
            "id": 52,
            "status": "shipped",
            "label": "Shipped",
            "aggregate": "order",
            "sequence": 6,
            "occurred_at": "2026-11-25T14:02:11.408120+00:00",
            "source": "shop",
            "note": "Handed to DHL, tracking number JD014600006281",
            "location": "",
            "shipment_id": "5b0e9a4c-8d2f-4c1e-9f3a-2d7c6b1e0a94",
            "tracking_number": "JD014600006281",
        },
    ],
}


class OrderTrackingApi(APIView):
    @extend_schema(
        operation_id="orders_tracking",
        summary="Follow an order's tracking",
        description="What the customer's tracking page shows: the status in words, what "
        "happens next and the timeline of the order, its payment and invoice, and the "
        "carrier's steps with their location and note.",
        responses={200: OrderTrackingOutputSerializer},
        examples=[OpenApiExample("On its way", value=TRACKING_EXAMPLE, response_only=True)],
    )
    def get(self, request, order_id: UUID):
        tracking = services.tracking_for_shop_order(
            shop_id=int(request.user.tenant_id), order_id=order_id
        )
        if tracking is None:
            raise Http404("No such order.")
        return Response(tracking)
