from uuid import UUID

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..models import Invoice
from .serializers import InvoiceOutputSerializer


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
