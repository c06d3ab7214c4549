"""A shop's carrier accounts over the API: ``/api/v1/carrier-accounts[/{carrier}]``.

Credentials are write-only: an account is shown with the names of the credentials that are
set, never their values. Another shop's account is a 404, as if it did not exist.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orderflow.api.serializers import StrictInputSerializer

from ..karrio_tracking import SUPPORTED_CARRIERS
from ..models.carrier_accounts import CarrierAccount
from ..services import carrier_accounts
from .pricing_serializers import FlagField
from .views import PROBLEM

TAG = ["carrier accounts"]


class CarrierAccountCreateInputSerializer(StrictInputSerializer):
    carrier = serializers.ChoiceField(
        choices=SUPPORTED_CARRIERS, help_text="The carrier's karrio connector."
    )
    credentials = serializers.DictField(
        child=serializers.JSONField(),
        help_text="The carrier's API credentials, by its connector's field names (ups and "
        "usps: client_id, client_secret; dhl_express: site_id, password). Write-only.",
    )
    active = FlagField(required=False, default=True, help_text="Poll the carrier.")
    test_mode = FlagField(
        required=False, default=False, help_text="Ask the carrier's test servers."
    )


class CarrierAccountUpdateInputSerializer(StrictInputSerializer):
    credentials = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="All of the account's credentials again: they replace the stored ones.",
    )
    active = FlagField(required=False)
    test_mode = FlagField(required=False)


class CarrierAccountOutputSerializer(serializers.ModelSerializer):
    credentials_set = serializers.ListField(
        source="credential_fields",
        child=serializers.CharField(),
        help_text="The names of the credentials stored (their values are never shown).",
    )

    class Meta:
        model = CarrierAccount
        fields = [
            "carrier",
            "active",
            "test_mode",
            "credentials_set",
            "last_polled_at",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
        ]


ACCOUNT_EXAMPLE = {
    "carrier": "ups",
    "active": True,
    "test_mode": False,
    "credentials_set": ["client_id", "client_secret"],
    "last_polled_at": "2026-12-04T10:05:00Z",
    "last_error": "",
    "last_error_at": None,
    "created_at": "2026-12-04T10:00:00Z",
    "updated_at": "2026-12-04T10:00:00Z",
}


class CarrierAccountListCreateApi(APIView):
    @extend_schema(
        operation_id="carrier_accounts_list",
        summary="The shop's carrier accounts",
        description="One account per carrier, with the names of its stored credentials.",
        tags=TAG,
        responses={200: CarrierAccountOutputSerializer(many=True)},
        # drf-spectacular wraps a list response's example in the list itself
        examples=[OpenApiExample("A UPS account", value=ACCOUNT_EXAMPLE, response_only=True)],
    )
    def get(self, request):
        accounts = CarrierAccount.objects.filter(shop=request.user.shop)
        return Response(CarrierAccountOutputSerializer(accounts, many=True).data)

    @extend_schema(
        operation_id="carrier_accounts_create",
        summary="Add a carrier account",
        description="OrderFlow then polls the carrier for the shop's parcels of that carrier "
        "(an active account also lets the shop ship with it). Credentials are stored "
        "encrypted and never shown again. A credential the carrier's connector does not take, "
        "or a missing required one, is a 400 naming the connector's fields; a second account "
        "for the same carrier is a 409 already-exists.",
        tags=TAG,
        request=CarrierAccountCreateInputSerializer,
        responses={201: CarrierAccountOutputSerializer, 400: PROBLEM, 409: PROBLEM},
        examples=[
            OpenApiExample(
                "UPS",
                value={
                    "carrier": "ups",
                    "credentials": {"client_id": "AbC123", "client_secret": "s3cr3t"},
                },
                request_only=True,
            ),
            OpenApiExample(
                "Added",
                value={**ACCOUNT_EXAMPLE, "last_polled_at": None},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request):
        serializer = CarrierAccountCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = carrier_accounts.carrier_account_create(
            shop=request.user.shop, **serializer.validated_data
        )
        return Response(
            CarrierAccountOutputSerializer(account).data, status=status.HTTP_201_CREATED
        )


class CarrierAccountDetailApi(APIView):
    def _account(self, request, carrier: str) -> CarrierAccount:
        account = CarrierAccount.objects.filter(shop=request.user.shop, carrier=carrier).first()
        if account is None:
            raise Http404(f"The shop has no {carrier!r} account.")
        return account

    @extend_schema(
        operation_id="carrier_accounts_retrieve",
        summary="One carrier account",
        description="With the last poll's time and the carrier's last error, if any.",
        tags=TAG,
        responses={200: CarrierAccountOutputSerializer, 404: PROBLEM},
        examples=[OpenApiExample("UPS", value=ACCOUNT_EXAMPLE, response_only=True)],
    )
    def get(self, request, carrier: str):
        return Response(CarrierAccountOutputSerializer(self._account(request, carrier)).data)

    @extend_schema(
        operation_id="carrier_accounts_partial_update",
        summary="Change a carrier account",
        description="New credentials replace the stored ones whole (send every one the carrier "
        "needs) and clear the last error; `active: false` stops polling.",
        tags=TAG,
        request=CarrierAccountUpdateInputSerializer,
        responses={200: CarrierAccountOutputSerializer, 400: PROBLEM, 404: PROBLEM},
        examples=[
            OpenApiExample("Pause polling", value={"active": False}, request_only=True),
            OpenApiExample(
                "Paused", value={**ACCOUNT_EXAMPLE, "active": False}, response_only=True
            ),
        ],
    )
    def patch(self, request, carrier: str):
        account = self._account(request, carrier)
        serializer = CarrierAccountUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = carrier_accounts.carrier_account_update(
            account=account, **serializer.validated_data
        )
        return Response(CarrierAccountOutputSerializer(account).data)

    @extend_schema(
        operation_id="carrier_accounts_destroy",
        summary="Delete a carrier account",
        description="Polling stops and the credentials are deleted. The shop still ships with "
        "the carrier, whose pushed reports still apply.",
        tags=TAG,
        responses={204: None, 404: PROBLEM},
        examples=[OpenApiExample("Deleted", value=None, response_only=True, status_codes=["204"])],
    )
    def delete(self, request, carrier: str):
        carrier_accounts.carrier_account_delete(account=self._account(request, carrier))
        return Response(status=status.HTTP_204_NO_CONTENT)
