from uuid import UUID

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..models import Invoice
from . import examples
from .serializers import (
    InvoiceOutputSerializer,
    RefundCreateInputSerializer,
    RefundOutputSerializer,
)

NO_ORDER = "No such order for this shop."


class OrderInvoiceDetailApi(APIView):
    @extend_schema(
        operation_id="orders_invoice_retrieve",
        summary="Get an order's invoice",
        description="Issued when the order is confirmed, with a gapless number per shop and "
        "year, and never changed after: a cancellation adds a `credit_note`. Before "
        "confirmation (or for a rejected order) it is a 404.",
        responses={200: InvoiceOutputSerializer},
        examples=[OpenApiExample("Two lines at 20 %", value=examples.INVOICE, response_only=True)],
    )
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
        operation_id="orders_refunds_list",
        summary="List an order's refunds",
        description="Every refund of the order's payment, newest first, whether the shop "
        "asked for it, staff or support made it, or a cancellation did.",
        responses={200: RefundOutputSerializer(many=True)},
        examples=[OpenApiExample("One refund", value=examples.REFUND, response_only=True)],
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
        summary="Refund part of an order's payment",
        description="Send an `amount`, or `lines` (SKUs and quantities: their share of the "
        "order, tax and discounts included), not both. The payment must be captured, and "
        "all refunds together cannot pass what was paid; the customer gets an e-mail and a "
        "`payment.refunded` event is published.",
        request=RefundCreateInputSerializer,
        examples=examples.REFUND_CREATE,
        responses={
            201: RefundOutputSerializer,
            400: OpenApiResponse(description="An RFC 9457 problem: the amount, lines or restock."),
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
