from uuid import UUID

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..models import Invoice
from .serializers import (
    InvoiceOutputSerializer,
    RefundCreateInputSerializer,
    RefundOutputSerializer,
)

NO_ORDER = "No such order for this shop."


class OrderInvoiceDetailApi(APIView):
    @extend_schema(operation_id="orders_invoice_retrieve", responses={200: InvoiceOutputSerializer})
    def get(self, request, order_id: str):
        try:
            invoice = selectors.invoice_get_for_order(
                order_id=UUID(order_id), shop_id=int(request.user.tenant_id)
            )
        except (ValueError, Invoice.DoesNotExist):
            raise Http404(
                "This order has no invoice (yet): it is issued on confirmation."
            ) from None
        return Response(InvoiceOutputSerializer(invoice).data)


class OrderRefundListApi(APIView):
    """The order's refunds (newest first), and a new refund of part or all of its payment."""

    @extend_schema(
        operation_id="orders_refunds_list", responses={200: RefundOutputSerializer(many=True)}
    )
    def get(self, request, order_id: str):
        try:
            refunds = selectors.refunds_for_order(
                order_id=UUID(order_id), shop_id=int(request.user.tenant_id)
            )
        except (ValueError, ObjectDoesNotExist):
            raise Http404(NO_ORDER) from None
        return Response(RefundOutputSerializer(refunds, many=True).data)

    @extend_schema(
        operation_id="orders_refunds_create",
        request=RefundCreateInputSerializer,
        responses={
            201: RefundOutputSerializer,
            400: OpenApiResponse(
                description="An RFC 9457 problem: the amount, lines or restock."
            ),
            404: OpenApiResponse(description="No such order of the shop."),
            409: OpenApiResponse(
                description="An RFC 9457 problem: the payment is not captured, or the refund "
                "would pass what is left of it (nothing is refunded)."
            ),
            503: OpenApiResponse(description="The payment provider did not answer; try again."),
        },
    )
    def post(self, request, order_id: str):
        try:
            order_uuid = UUID(order_id)
        except ValueError:
            raise Http404(NO_ORDER) from None
        serializer = RefundCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            refund = services.payment_refund(
                order_id=order_uuid,
                shop_id=int(request.user.tenant_id),
                amount=data.get("amount"),
                lines=[services.RefundLine(**line) for line in data.get("lines", [])],
                reason=data["reason"],
                restock=data["restock"],
                actor=str(request.user.actor),
            )
        except ObjectDoesNotExist:
            raise Http404(NO_ORDER) from None
        return Response(RefundOutputSerializer(refund).data, status=status.HTTP_201_CREATED)
