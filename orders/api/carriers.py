"""``POST /api/v1/carrier-events``: carriers push parcel updates, signed with their secret.

Each report carries the carrier's own ``event_id`` inside the signed body; the same event
again is answered ``200`` with ``"duplicate": true`` and changes nothing, so neither a
carrier's retry nor a captured request replayed within the signature's age acts twice.
"""

import re
import time

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from orderflow.api.serializers import StrictInputSerializer

from .. import carriers, services
from . import examples


class CarrierClient:
    """The authenticated caller of the carrier API (``request.user``)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, name: str):
        self.name = name

    def __str__(self) -> str:
        return f"carrier {self.name}"


class CarrierSignatureAuthentication(BaseAuthentication):
    """The event body signed with the carrier's own secret (see ``orders.carriers``)."""

    def authenticate(self, request):
        name = request.headers.get(carriers.CARRIER_HEADER, "")
        timestamp = request.headers.get(carriers.TIMESTAMP_HEADER, "")
        signature = request.headers.get(carriers.SIGNATURE_HEADER, "")
        if not (name and timestamp and signature):
            raise exceptions.NotAuthenticated(
                f"Sign carrier events: send {carriers.CARRIER_HEADER}, "
                f"{carriers.TIMESTAMP_HEADER} and {carriers.SIGNATURE_HEADER}."
            )
        secret = settings.CARRIER_SECRETS.get(name)
        if not secret:
            raise exceptions.AuthenticationFailed(f"Unknown carrier {name!r}.")
        if not _timestamp_is_recent(timestamp):
            raise exceptions.AuthenticationFailed(
                f"{carriers.TIMESTAMP_HEADER} must be the current Unix time "
                f"(within {settings.CARRIER_SIGNATURE_MAX_AGE} s)."
            )
        body = request._request.body  # the raw bytes that were signed
        if not carriers.signature_matches(
            secret=secret, timestamp=timestamp, body=body, signature=signature
        ):
            raise exceptions.AuthenticationFailed("The signature does not match the body.")
        return CarrierClient(name), None

    def authenticate_header(self, request) -> str:
        return 'HMAC-SHA256 realm="carrier-events"'


#: a Unix time in seconds, ASCII digits only: ``str.isdigit`` takes "²", and ``int`` of
#: thousands of digits raises, or is too large to subtract from a float
_UNIX_TIME = re.compile(r"[0-9]{1,12}")


def _timestamp_is_recent(timestamp: str) -> bool:
    """Tell whether the header is a Unix time within the signature's age, never raising."""
    if not _UNIX_TIME.fullmatch(timestamp):
        return False
    return abs(time.time() - int(timestamp)) <= settings.CARRIER_SIGNATURE_MAX_AGE


class IsCarrier(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, CarrierClient)


class CarrierSignatureScheme(OpenApiAuthenticationExtension):
    target_class = CarrierSignatureAuthentication
    name = "carrierSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": carriers.SIGNATURE_HEADER,
            "description": "sha256=<hex HMAC-SHA256 of '<X-Carrier-Timestamp>.<body>'> with "
            "the carrier's secret; send X-Carrier and X-Carrier-Timestamp too.",
        }


class CarrierEventInputSerializer(StrictInputSerializer):
    tracking_number = serializers.CharField(max_length=64)
    status = serializers.ChoiceField(choices=carriers.CARRIER_STATUSES)
    location = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Where the parcel is; kept with in_transit, delivery_failed, held and "
        "returned_to_sender.",
    )
    note = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="The carrier's words for the customer (where to collect a held parcel); kept "
        "with in_transit, delivery_failed, held and returned_to_sender.",
    )
    event_id = serializers.CharField(
        max_length=100,
        help_text="The carrier's own id of the event, unique per carrier: the same id again "
        "is a duplicate, answered 200 and ignored.",
    )


class CarrierEventOutputSerializer(serializers.Serializer):
    order_number = serializers.CharField()
    status = serializers.CharField(help_text="The order's status after the event.")
    duplicate = serializers.BooleanField(
        help_text="True when the carrier sent this event_id before: nothing was done again."
    )


class CarrierEventCreateApi(APIView):
    authentication_classes = [CarrierSignatureAuthentication]
    permission_classes = [IsCarrier]
    throttle_classes: list = []

    @extend_schema(
        operation_id="carrier_events_create",
        summary="Report a parcel's progress (carriers)",
        description="A carrier, not a shop, calls this: each body is signed with the "
        "carrier's own secret (`X-Carrier`, `X-Carrier-Timestamp` and `X-Carrier-Signature` "
        "headers, see docs/staff.md). The parcel is found by its "
        "tracking number among the carrier's; the order moves on (`out_for_delivery`, "
        "`delivered`) or its timeline gains the step (`in_transit`, `delivery_failed`, `held`, "
        "`returned_to_sender`: final, the parcel goes back to the shop). "
        "The same `event_id` again is answered 200 with `duplicate: true` and changes nothing.",
        request=CarrierEventInputSerializer,
        examples=examples.CARRIER_EVENT,
        responses={
            200: CarrierEventOutputSerializer,
            400: OpenApiResponse(description="An invalid body."),
            401: OpenApiResponse(
                description="Missing or bad signature, stale or malformed timestamp, or "
                "unknown carrier."
            ),
            404: OpenApiResponse(
                description="No parcel of this carrier has the number (a parcel of a shop "
                "that does not ship with the carrier is none of its own)."
            ),
            409: OpenApiResponse(
                description="The order's state does not allow the status, or more than one "
                "parcel has the number (ambiguous-parcel): nothing was changed."
            ),
        },
    )
    def post(self, request):
        serializer = CarrierEventInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        outcome = services.shipment_report(
            carrier=request.user.name,
            event_id=data["event_id"],
            tracking_number=data["tracking_number"],
            status=data["status"],
            location=data["location"],
            note=data["note"],
        )
        return Response(
            {
                "order_number": outcome.order.number,
                "status": outcome.order.status,
                "duplicate": outcome.duplicate,
            },
            status=status.HTTP_200_OK,
        )
