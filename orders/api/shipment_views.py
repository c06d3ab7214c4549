"""An order's shipments over the API: ship some lines (or all that remain), list the parcels."""

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from orderflow.api.idempotency import idempotent

from .. import selectors, services
from ..models import Order
from .shipment_serializers import ShipmentCreateInputSerializer, ShipmentOutputSerializer
from .views import IDEMPOTENCY_PARAMETER, PROBLEM, _order_id, _shop_scope

TAG = ["shipments"]
SHIPMENT_EXAMPLE = {
    "id": "3f1d2c8e-5b7a-4e0f-9a41-6c2b8d9e7f10",
    "status": "in_transit",
    "carrier": "DHL",
    "service": "express",
    "tracking_number": "JD014600",
    "lines": [{"sku": "COFFEE-1KG", "quantity": 1}],
    "eta": None,
    "tracking_url": "https://track.example.com/t/Jd8sK2mQ0v9pX1bR7nC4eW6yZ3aL5tH",
    "created_at": "2026-12-04T14:05:11.201934Z",
    "updated_at": "2026-12-04T14:05:11.201950Z",
}


class OrderShipmentListCreateApi(APIView):
    @extend_schema(
        operation_id="orders_shipments_list",
        summary="List an order's parcels",
        description="Every shipment of the order, oldest first, with its lines, carrier, "
        "tracking number, status and ETA. Another shop's order is a 404.",
        tags=TAG,
        responses={200: ShipmentOutputSerializer(many=True), 404: PROBLEM},
        examples=[
            OpenApiExample("One parcel on its way", value=SHIPMENT_EXAMPLE, response_only=True)
        ],
    )
    def get(self, request, order_id: str):
        try:
            shipments = selectors.shipment_list_for_order(
                shop=request.user.shop, order_id=_order_id(order_id)
            )
        except Order.DoesNotExist:
            raise Http404("No such order.") from None
        return Response(ShipmentOutputSerializer(shipments, many=True).data)

    @extend_schema(
        operation_id="orders_shipments_create",
        summary="Ship some of an order's lines",
        description="Hand one parcel to a carrier: the lines named (each SKU once), or, "
        "without `lines`, everything that remains. The order becomes `partially_shipped` "
        "while units remain and `shipped` when the last leave; `shipment.dispatched` names "
        "the parcel and its lines. Units beyond what remains of a SKU are a 409 "
        "shipment-exceeds-order naming the SKU (`sku`, `requested`, `remaining`); nothing "
        "is shipped. `POST /orders/{id}/ship` is the same as this without `lines`.",
        tags=TAG,
        request=ShipmentCreateInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: ShipmentOutputSerializer,
            400: OpenApiResponse(
                description="An invalid body, a carrier the shop does not ship with "
                "(carrier_not_bound), or a SKU the order does not have (unknown_sku)."
            ),
            404: PROBLEM,
            409: OpenApiResponse(
                description="The order is not confirmed or partly shipped "
                "(invalid-transition), more units than remain (shipment-exceeds-order), or "
                "the tracking number is on another parcel on the road "
                "(tracking-number-in-use)."
            ),
        },
        examples=[
            OpenApiExample(
                "One unit of one line",
                value={
                    "lines": [{"sku": "COFFEE-1KG", "quantity": 1}],
                    "carrier": "DHL",
                    "tracking_number": "JD014600",
                    "service": "express",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Everything that remains",
                value={"carrier": "DHL", "tracking_number": "JD014601"},
                request_only=True,
            ),
            OpenApiExample("Shipped", value=SHIPMENT_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request, order_id: str):
        serializer = ShipmentCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        parsed_id = _order_id(order_id)
        lines = data.get("lines")

        def ship() -> tuple[int, dict]:
            try:
                shipment = services.shipment_create(
                    order_id=parsed_id,
                    shop=request.user.shop,
                    actor=request.user.actor,
                    carrier=data["carrier"],
                    tracking_number=data["tracking_number"],
                    service=data["service"],
                    lines=None
                    if lines is None
                    else [services.ShipmentLineInput(**line) for line in lines],
                )
            except Order.DoesNotExist:
                raise Http404("No such order.") from None
            return status.HTTP_201_CREATED, ShipmentOutputSerializer(shipment).data

        return idempotent(request, scope=_shop_scope(request), operation=ship)
