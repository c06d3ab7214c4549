"""The shop's pricing settings over the API: shipping methods, discount codes, tax rates, shop.

Every view reads and writes the authenticated shop's own rows only: another shop's code or
id is a 404, as if it did not exist. Writes go through :mod:`orders.services.price_settings`.
"""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from orderflow.api.pagination import CheckedCursorPagination

from ..models import Discount, ShippingMethod, TaxRate
from ..models.price_rules import code_validator
from ..services import price_settings
from .pricing_serializers import (
    DiscountCreateInputSerializer,
    DiscountOutputSerializer,
    DiscountUpdateInputSerializer,
    ShippingMethodCreateInputSerializer,
    ShippingMethodOutputSerializer,
    ShippingMethodUpdateInputSerializer,
    ShopSettingsInputSerializer,
    ShopSettingsOutputSerializer,
    TaxRateCreateInputSerializer,
    TaxRateOutputSerializer,
    TaxRateUpdateInputSerializer,
)
from .views import PROBLEM

TAG = ["pricing settings"]
CONFLICT = PROBLEM


class _CodePagination(CheckedCursorPagination):
    ordering = ("code",)
    page_size = 100
    max_page_size = 500


class _IdPagination(CheckedCursorPagination):
    ordering = ("id",)
    page_size = 100
    max_page_size = 500


PAGE_PARAMETERS = [OpenApiParameter("cursor", OpenApiTypes.STR), _CodePagination.limit_parameter()]


def _paginated(view, paginator, queryset, serializer_class):
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def _known_code(code: str, what: str) -> str:
    if not code_validator.regex.fullmatch(code):
        raise Http404(f"No {what} with code {code!r}.")
    return code


# --- the shop ----------------------------------------------------------------------------------
SHOP_EXAMPLE = {
    "name": "Café Aurora",
    "currency": "EUR",
    "prices_include_tax": True,
    "language": "en",
    "tax_rate": "0.2000",
    "capture_on_shipment": False,
}


class ShopSettingsApi(APIView):
    @extend_schema(
        operation_id="shop_retrieve",
        summary="The shop's settings",
        description="How the shop's orders are priced and charged: whether prices include "
        "tax, the default tax rate, the customers' default language and whether payment is "
        "captured on shipment. Name and currency are set by support.",
        tags=TAG,
        responses={200: ShopSettingsOutputSerializer},
        examples=[
            OpenApiExample(
                "A shop whose prices include VAT",
                value=SHOP_EXAMPLE,
                response_only=True,
            )
        ],
    )
    def get(self, request):
        return Response(ShopSettingsOutputSerializer(request.user.shop).data)

    @extend_schema(
        operation_id="shop_partial_update",
        summary="Change the shop's pricing defaults",
        description="Orders placed before keep what they were priced with.",
        tags=TAG,
        request=ShopSettingsInputSerializer,
        responses={200: ShopSettingsOutputSerializer, 400: PROBLEM},
        examples=[
            OpenApiExample(
                "A net-price B2B shop in Portuguese",
                value={"prices_include_tax": False, "language": "pt-BR", "tax_rate": "0.17"},
                request_only=True,
            ),
            OpenApiExample(
                "Changed",
                value={
                    **SHOP_EXAMPLE,
                    "prices_include_tax": False,
                    "language": "pt-BR",
                    "tax_rate": "0.1700",
                },
                response_only=True,
            ),
        ],
    )
    def patch(self, request):
        serializer = ShopSettingsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        shop = price_settings.shop_settings_update(
            shop=request.user.shop, **serializer.validated_data
        )
        return Response(ShopSettingsOutputSerializer(shop).data)


# --- shipping methods -----------------------------------------------------------------------------
SHIPPING_ANSWER = {
    "code": "post",
    "name": "Post, by weight",
    "kind": "weight",
    "price": "0.00",
    "weight_bands": [
        {"up_to_grams": 1000, "price": "5.00"},
        {"up_to_grams": 5000, "price": "9.00"},
    ],
    "free_above": "80.00",
    "countries": ["BR", "PT"],
    "tax_class": "standard",
    "active": True,
    "is_default": True,
    "created_at": "2026-12-04T10:00:00Z",
    "updated_at": "2026-12-04T10:00:00Z",
}
SHIPPING_EXAMPLE = {
    "code": "post",
    "name": "Post, by weight",
    "kind": "weight",
    "weight_bands": [
        {"up_to_grams": 1000, "price": "5.00"},
        {"up_to_grams": 5000, "price": "9.00"},
    ],
    "free_above": "80.00",
    "countries": ["BR", "PT"],
    "tax_class": "standard",
    "is_default": True,
}


class ShippingMethodListCreateApi(APIView):
    pagination_class = _CodePagination

    @extend_schema(
        operation_id="shipping_methods_list",
        summary="The shop's shipping methods",
        description="Every method, active or not, by code, a page at a time (follow `next`).",
        tags=TAG,
        parameters=PAGE_PARAMETERS,
        responses={200: ShippingMethodOutputSerializer(many=True)},
        examples=[
            OpenApiExample(
                "A flat method",
                value={
                    "code": "courier",
                    "name": "Courier",
                    "kind": "flat",
                    "price": "12.00",
                    "weight_bands": [],
                    "free_above": None,
                    "countries": [],
                    "tax_class": "standard",
                    "active": True,
                    "is_default": False,
                    "created_at": "2026-12-04T10:00:00Z",
                    "updated_at": "2026-12-04T10:00:00Z",
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        queryset = ShippingMethod.objects.filter(shop=request.user.shop)
        return _paginated(self, self.pagination_class(), queryset, ShippingMethodOutputSerializer)

    @extend_schema(
        operation_id="shipping_methods_create",
        summary="Add a shipping method",
        description="A code already used by the shop is a 409 already-exists. With "
        "`is_default` true it prices the orders that name no method (the shop's previous "
        "default is unset).",
        tags=TAG,
        request=ShippingMethodCreateInputSerializer,
        responses={201: ShippingMethodOutputSerializer, 400: PROBLEM, 409: CONFLICT},
        examples=[
            OpenApiExample("By weight", value=SHIPPING_EXAMPLE, request_only=True),
            OpenApiExample(
                "Added", value=SHIPPING_ANSWER, response_only=True, status_codes=["201"]
            ),
        ],
    )
    def post(self, request):
        serializer = ShippingMethodCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        method = price_settings.shipping_method_create(
            shop=request.user.shop, **serializer.validated_data
        )
        return Response(ShippingMethodOutputSerializer(method).data, status=status.HTTP_201_CREATED)


class ShippingMethodDetailApi(APIView):
    def _method(self, request, code: str) -> ShippingMethod:
        try:
            return ShippingMethod.objects.get(
                shop=request.user.shop, code=_known_code(code, "shipping method")
            )
        except ShippingMethod.DoesNotExist:
            raise Http404(f"No shipping method with code {code!r}.") from None

    @extend_schema(
        operation_id="shipping_methods_retrieve",
        summary="One shipping method",
        description="A method of the shop by its code; another shop's is a 404.",
        tags=TAG,
        responses={200: ShippingMethodOutputSerializer, 404: PROBLEM},
        examples=[
            OpenApiExample(
                "By weight",
                value=SHIPPING_ANSWER,
                response_only=True,
            )
        ],
    )
    def get(self, request, code: str):
        return Response(ShippingMethodOutputSerializer(self._method(request, code)).data)

    @extend_schema(
        operation_id="shipping_methods_partial_update",
        summary="Change a shipping method",
        description="Later orders only: a placed order keeps the method's code, name and price.",
        tags=TAG,
        request=ShippingMethodUpdateInputSerializer,
        responses={200: ShippingMethodOutputSerializer, 400: PROBLEM, 404: PROBLEM},
        examples=[
            OpenApiExample("Free from 50", value={"free_above": "50.00"}, request_only=True),
            OpenApiExample(
                "Changed", value={**SHIPPING_ANSWER, "free_above": "50.00"}, response_only=True
            ),
        ],
    )
    def patch(self, request, code: str):
        method = self._method(request, code)
        serializer = ShippingMethodUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        method = price_settings.shipping_method_update(method=method, **serializer.validated_data)
        return Response(ShippingMethodOutputSerializer(method).data)

    @extend_schema(
        operation_id="shipping_methods_destroy",
        summary="Delete a shipping method",
        description="A hard delete, even of a method orders used: each order keeps its own copy "
        "of the method's code, name, price and tax. To stop offering it for a while, PATCH "
        "`active: false`.",
        tags=TAG,
        responses={204: None, 404: PROBLEM},
        examples=[OpenApiExample("Deleted", value=None, response_only=True, status_codes=["204"])],
    )
    def delete(self, request, code: str):
        price_settings.shipping_method_delete(method=self._method(request, code))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- discounts ------------------------------------------------------------------------------------
DISCOUNT_ANSWER = {
    "code": "COFFEE10",
    "kind": "percentage",
    "value": "10.00",
    "skus": ["COFFEE-1KG"],
    "starts_at": None,
    "ends_at": "2026-12-31T23:59:59Z",
    "max_uses": 100,
    "uses": 3,
    "once_per_customer": True,
    "min_subtotal": None,
    "active": True,
    "created_at": "2026-12-04T10:00:00Z",
    "updated_at": "2026-12-04T10:00:00Z",
}
DISCOUNT_EXAMPLE = {
    "code": "COFFEE10",
    "kind": "percentage",
    "value": "10",
    "skus": ["COFFEE-1KG"],
    "ends_at": "2026-12-31T23:59:59Z",
    "max_uses": 100,
    "once_per_customer": True,
}


class DiscountListCreateApi(APIView):
    pagination_class = _CodePagination

    @extend_schema(
        operation_id="discounts_list",
        summary="The shop's discount codes",
        description="Every code, active or not, with how often it was used, by code, a page "
        "at a time (follow `next`).",
        tags=TAG,
        parameters=PAGE_PARAMETERS,
        responses={200: DiscountOutputSerializer(many=True)},
        examples=[
            OpenApiExample(
                "A code used 3 times",
                value=DISCOUNT_ANSWER,
                response_only=True,
            )
        ],
    )
    def get(self, request):
        queryset = Discount.objects.filter(shop=request.user.shop)
        return _paginated(self, self.pagination_class(), queryset, DiscountOutputSerializer)

    @extend_schema(
        operation_id="discounts_create",
        summary="Add a discount code",
        description="Codes are case-insensitive: one the shop has in any case is a 409 "
        "already-exists. SKUs not in the catalog are a 400 naming each.",
        tags=TAG,
        request=DiscountCreateInputSerializer,
        responses={201: DiscountOutputSerializer, 400: PROBLEM, 409: CONFLICT},
        examples=[
            OpenApiExample("10 % off coffee", value=DISCOUNT_EXAMPLE, request_only=True),
            OpenApiExample(
                "Added",
                value={**DISCOUNT_ANSWER, "uses": 0},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request):
        serializer = DiscountCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        discount = price_settings.discount_create(
            shop=request.user.shop, **serializer.validated_data
        )
        return Response(DiscountOutputSerializer(discount).data, status=status.HTTP_201_CREATED)


class DiscountDetailApi(APIView):
    def _discount(self, request, code: str) -> Discount:
        try:
            return Discount.objects.get(
                shop=request.user.shop, code__iexact=_known_code(code, "discount code")
            )
        except Discount.DoesNotExist:
            raise Http404(f"No discount code {code!r}.") from None

    @extend_schema(
        operation_id="discounts_retrieve",
        summary="One discount code (any case)",
        description="A code of the shop, looked up case-insensitively; another shop's is a 404.",
        tags=TAG,
        responses={200: DiscountOutputSerializer, 404: PROBLEM},
        examples=[
            OpenApiExample(
                "10 % off coffee",
                value=DISCOUNT_ANSWER,
                response_only=True,
            )
        ],
    )
    def get(self, request, code: str):
        return Response(DiscountOutputSerializer(self._discount(request, code)).data)

    @extend_schema(
        operation_id="discounts_partial_update",
        summary="Change a discount code",
        description="`uses` is read-only; `max_uses` may not go below it.",
        tags=TAG,
        request=DiscountUpdateInputSerializer,
        responses={200: DiscountOutputSerializer, 400: PROBLEM, 404: PROBLEM},
        examples=[
            OpenApiExample("Stop it", value={"active": False}, request_only=True),
            OpenApiExample(
                "Stopped", value={**DISCOUNT_ANSWER, "active": False}, response_only=True
            ),
        ],
    )
    def patch(self, request, code: str):
        discount = self._discount(request, code)
        serializer = DiscountUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        discount = price_settings.discount_update(discount=discount, **serializer.validated_data)
        return Response(DiscountOutputSerializer(discount).data)

    @extend_schema(
        operation_id="discounts_destroy",
        summary="Delete a discount code no order carries",
        description="A code orders carry is a 409 discount-in-use: PATCH `active: false` instead.",
        tags=TAG,
        responses={204: None, 404: PROBLEM, 409: CONFLICT},
        examples=[OpenApiExample("Deleted", value=None, response_only=True, status_codes=["204"])],
    )
    def delete(self, request, code: str):
        price_settings.discount_delete(discount=self._discount(request, code))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- tax rates ------------------------------------------------------------------------------------
TAX_RATE_EXAMPLE = {"tax_class": "reduced", "country": "PT", "rate": "0.06"}


class TaxRateListCreateApi(APIView):
    pagination_class = _IdPagination

    @extend_schema(
        operation_id="tax_rates_list",
        summary="The shop's tax rates",
        description="Every rate by class and country (a blank country is every other one), "
        "a page at a time (follow `next`).",
        tags=TAG,
        parameters=[OpenApiParameter("cursor", OpenApiTypes.STR), _IdPagination.limit_parameter()],
        responses={200: TaxRateOutputSerializer(many=True)},
        examples=[
            OpenApiExample(
                "Reduced in Portugal",
                value={"id": 7, **TAX_RATE_EXAMPLE, "rate": "0.0600"},
                response_only=True,
            )
        ],
    )
    def get(self, request):
        queryset = TaxRate.objects.filter(shop=request.user.shop)
        return _paginated(self, self.pagination_class(), queryset, TaxRateOutputSerializer)

    @extend_schema(
        operation_id="tax_rates_create",
        summary="Add a tax rate",
        description="One rate per class and country (blank country: every other one); a second "
        "is a 409 already-exists.",
        tags=TAG,
        request=TaxRateCreateInputSerializer,
        responses={201: TaxRateOutputSerializer, 400: PROBLEM, 409: CONFLICT},
        examples=[
            OpenApiExample("Reduced in Portugal", value=TAX_RATE_EXAMPLE, request_only=True),
            OpenApiExample(
                "Added",
                value={"id": 7, **TAX_RATE_EXAMPLE, "rate": "0.0600"},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request):
        serializer = TaxRateCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rate = price_settings.tax_rate_create(shop=request.user.shop, **serializer.validated_data)
        return Response(TaxRateOutputSerializer(rate).data, status=status.HTTP_201_CREATED)


class TaxRateDetailApi(APIView):
    def _rate(self, request, rate_id: int) -> TaxRate:
        try:
            return TaxRate.objects.get(shop=request.user.shop, pk=rate_id)
        except TaxRate.DoesNotExist:
            raise Http404(f"No tax rate {rate_id}.") from None

    @extend_schema(
        operation_id="tax_rates_partial_update",
        summary="Change a tax rate",
        description="Later orders only: a placed order keeps each line's rate and tax. A "
        "class and country another rate has is a 409 already-exists.",
        tags=TAG,
        request=TaxRateUpdateInputSerializer,
        responses={200: TaxRateOutputSerializer, 400: PROBLEM, 404: PROBLEM, 409: CONFLICT},
        examples=[
            OpenApiExample("New rate", value={"rate": "0.23"}, request_only=True),
            OpenApiExample(
                "Changed",
                value={"id": 7, **TAX_RATE_EXAMPLE, "rate": "0.2300"},
                response_only=True,
            ),
        ],
    )
    def patch(self, request, rate_id: int):
        rate = self._rate(request, rate_id)
        serializer = TaxRateUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rate = price_settings.tax_rate_update(tax_rate=rate, **serializer.validated_data)
        return Response(TaxRateOutputSerializer(rate).data)

    @extend_schema(
        operation_id="tax_rates_destroy",
        summary="Delete a tax rate",
        description="Placed orders keep each line's rate and tax. An order whose class then has "
        "no rate is refused (400) until one is added.",
        tags=TAG,
        responses={204: None, 404: PROBLEM},
        examples=[OpenApiExample("Deleted", value=None, response_only=True, status_codes=["204"])],
    )
    def delete(self, request, rate_id: int):
        price_settings.tax_rate_delete(tax_rate=self._rate(request, rate_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
