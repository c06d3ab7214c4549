"""The tracking API of the shops: each view parses, calls one service, and renders."""

from uuid import UUID

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from .serializers import OrderTrackingOutputSerializer


class OrderTrackingApi(APIView):
    @extend_schema(operation_id="orders_tracking", responses={200: OrderTrackingOutputSerializer})
    def get(self, request, order_id: UUID):
        tracking = services.tracking_for_shop_order(shop_id=request.user.shop.pk, order_id=order_id)
        if tracking is None:
            raise Http404("No such order.")
        return Response(tracking)
