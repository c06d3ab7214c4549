"""The shops' webhook API: each view parses, calls one service or selector, and renders."""

from datetime import timedelta
from uuid import UUID

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from orderflow.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from orderflow.api.idempotency import idempotent
from orderflow.api.serializers import NoFieldsInputSerializer

from .. import selectors, services
from ..models import WebhookDelivery, WebhookEndpoint
from . import examples
from .pagination import WebhookDeliveryCursorPagination, WebhookEndpointCursorPagination
from .serializers import (
    WebhookDeliveryDetailOutputSerializer,
    WebhookDeliveryOutputSerializer,
    WebhookEndpointCreateInputSerializer,
    WebhookEndpointOutputSerializer,
    WebhookEndpointRotateSecretInputSerializer,
    WebhookEndpointUpdateInputSerializer,
    WebhookEndpointWithSecretOutputSerializer,
    WebhookReplayOutputSerializer,
    WebhookReplaySinceInputSerializer,
)
from .throttling import ON_DEMAND_THROTTLES

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="A unique key per request (e.g. a UUID): a retry gets the first response.",
)
PROBLEM = OpenApiResponse(description="An RFC 9457 problem document.")


def _scope(request) -> str:
    return f"shop:{request.user.tenant_id}"


def _without_secret(body: dict) -> dict:
    """What an idempotent replay answers: the endpoint, but never its secret.

    The stored response is kept for IDEMPOTENCY_KEY_TTL_HOURS in plain JSON; a signing
    secret there would outlive the one answer that shows it.
    """
    return {**body, "secret": None}


def _uuid(raw: str, what: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise Http404(f"No such {what}.") from None


def _endpoint(request, endpoint_id: str) -> WebhookEndpoint:
    try:
        return selectors.webhook_endpoint_get_for_shop(
            shop_id=int(request.user.tenant_id), endpoint_id=_uuid(endpoint_id, "webhook endpoint")
        )
    except WebhookEndpoint.DoesNotExist:
        raise Http404("No such webhook endpoint.") from None


def _delivery(request, delivery_id: str) -> WebhookDelivery:
    try:
        return selectors.webhook_delivery_get_for_shop(
            shop_id=int(request.user.tenant_id), delivery_id=_uuid(delivery_id, "webhook delivery")
        )
    except WebhookDelivery.DoesNotExist:
        raise Http404("No such webhook delivery.") from None


class WebhookEndpointListCreateApi(APIView):
    pagination_class = WebhookEndpointCursorPagination

    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="List webhook endpoints",
        description="The shop's endpoints, newest first, a page at a time (follow `next`); "
        "their secrets are never shown again.",
        examples=[
            OpenApiExample("A page of one endpoint", value=examples.ENDPOINT, response_only=True)
        ],
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR),
            WebhookEndpointCursorPagination.limit_parameter(),
        ],
        responses={200: WebhookEndpointOutputSerializer(many=True)},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.webhook_endpoint_list_for_shop(shop_id=int(request.user.tenant_id)),
            request,
            view=self,
        )
        return paginator.get_paginated_response(
            WebhookEndpointOutputSerializer(page, many=True).data
        )

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Register a webhook endpoint",
        request=WebhookEndpointCreateInputSerializer,
        examples=examples.ENDPOINT_CREATE,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: WebhookEndpointWithSecretOutputSerializer, 400: PROBLEM, 409: PROBLEM},
        description="Register an endpoint. The answer carries its signing `secret`, "
        "shown this once: a replay under the same Idempotency-Key answers `secret: null` "
        "(it is never stored with the replay; rotate it if the first answer was lost). "
        "The URL must be http(s) to a public address; it is stored "
        "normalised (IDNA host, percent-encoded path and query). A shop has at most "
        "WEBHOOK_MAX_ENDPOINTS_PER_SHOP endpoints (409 past it).",
    )
    def post(self, request):
        serializer = WebhookEndpointCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def create() -> tuple[int, dict]:
            endpoint, _secret = services.webhook_endpoint_create(
                shop_id=int(request.user.tenant_id), **serializer.validated_data
            )
            return status.HTTP_201_CREATED, WebhookEndpointWithSecretOutputSerializer(endpoint).data

        return idempotent(request, scope=_scope(request), operation=create, redact=_without_secret)


class WebhookEndpointDetailApi(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_retrieve",
        summary="Get a webhook endpoint",
        description="One endpoint of the shop (never its secret); `disabled` and "
        "`disabled_reason` say whether OrderFlow stopped sending to it after repeated "
        "failures.",
        responses={200: WebhookEndpointOutputSerializer},
        examples=[OpenApiExample("Active", value=examples.ENDPOINT, response_only=True)],
    )
    def get(self, request, endpoint_id: str):
        return Response(WebhookEndpointOutputSerializer(_endpoint(request, endpoint_id)).data)

    @extend_schema(
        operation_id="webhook_endpoints_partial_update",
        summary="Change a webhook endpoint",
        description="URL, event types, description or `active`; fields left out stay. "
        "`active: true` enables an endpoint OrderFlow disabled, clearing its failures.",
        request=WebhookEndpointUpdateInputSerializer,
        examples=examples.ENDPOINT_UPDATE,
        responses={200: WebhookEndpointOutputSerializer, 400: PROBLEM, 404: PROBLEM},
    )
    def patch(self, request, endpoint_id: str):
        serializer = WebhookEndpointUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(
            endpoint=_endpoint(request, endpoint_id), **serializer.validated_data
        )
        return Response(WebhookEndpointOutputSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_destroy",
        summary="Delete a webhook endpoint",
        description="The endpoint goes with its deliveries and their log: nothing more is sent.",
        responses={204: None, 404: PROBLEM},
    )
    def delete(self, request, endpoint_id: str):
        services.webhook_endpoint_delete(endpoint=_endpoint(request, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretApi(APIView):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        summary="Rotate a webhook endpoint's secret",
        request=WebhookEndpointRotateSecretInputSerializer,
        examples=examples.ROTATE,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: WebhookEndpointWithSecretOutputSerializer, 404: PROBLEM},
        description="Give the endpoint a new secret (in the answer, shown this once; "
        "`null` on an Idempotency-Key replay). Until "
        "`previous_secret_expires_at` every delivery carries both signatures.",
    )
    def post(self, request, endpoint_id: str):
        serializer = WebhookEndpointRotateSecretInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hours = serializer.validated_data.get("keep_previous_for_hours")
        endpoint = _endpoint(request, endpoint_id)

        def rotate() -> tuple[int, dict]:
            rotated, _secret = services.webhook_endpoint_rotate_secret(
                endpoint=endpoint,
                keep_previous_for=None if hours is None else timedelta(hours=hours),
            )
            return status.HTTP_200_OK, WebhookEndpointWithSecretOutputSerializer(rotated).data

        return idempotent(request, scope=_scope(request), operation=rotate, redact=_without_secret)


class WebhookEndpointTestApi(APIView):
    throttle_classes = ON_DEMAND_THROTTLES

    @extend_schema(
        operation_id="webhook_endpoints_test",
        summary="Send a test event to a webhook endpoint",
        request=NoFieldsInputSerializer,
        examples=examples.SEND_TEST,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={202: WebhookDeliveryOutputSerializer, 404: PROBLEM, 409: PROBLEM, 429: PROBLEM},
        description="Queue a signed `webhook.test` event for the endpoint; follow it with "
        "GET /webhook-deliveries/{id}.",
    )
    def post(self, request, endpoint_id: str):
        endpoint = _endpoint(request, endpoint_id)
        NoFieldsInputSerializer(data=request.data).is_valid(raise_exception=True)

        def send_test() -> tuple[int, dict]:
            delivery = services.webhook_endpoint_send_test(endpoint=endpoint)
            return status.HTTP_202_ACCEPTED, WebhookDeliveryOutputSerializer(delivery).data

        return idempotent(request, scope=_scope(request), operation=send_test)


class WebhookEndpointReplayApi(APIView):
    throttle_classes = ON_DEMAND_THROTTLES

    @extend_schema(
        operation_id="webhook_endpoints_replay",
        summary="Send a webhook endpoint's deliveries again",
        request=WebhookReplaySinceInputSerializer,
        examples=examples.REPLAY_SINCE,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            202: WebhookReplayOutputSerializer,
            400: PROBLEM,
            404: PROBLEM,
            409: PROBLEM,
            429: PROBLEM,
        },
        description="Send every delivery of the endpoint recorded since `since` again "
        "(those still on their way are left alone).",
    )
    def post(self, request, endpoint_id: str):
        serializer = WebhookReplaySinceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = _endpoint(request, endpoint_id)

        def replay() -> tuple[int, dict]:
            count = services.webhook_deliveries_replay_since(
                endpoint=endpoint, since=serializer.validated_data["since"]
            )
            return status.HTTP_202_ACCEPTED, {"replayed": count}

        return idempotent(request, scope=_scope(request), operation=replay)


class WebhookDeliveryListApi(APIView):
    pagination_class = WebhookDeliveryCursorPagination

    @extend_schema(
        operation_id="webhook_deliveries_list",
        summary="List a webhook endpoint's deliveries",
        description="Every delivery to the endpoint, newest first, a page at a time: its "
        "event, status, attempts and the last answer.",
        examples=[
            OpenApiExample("A page of one delivery", value=examples.SENT, response_only=True)
        ],
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR),
            WebhookDeliveryCursorPagination.limit_parameter(),
        ],
        responses={200: WebhookDeliveryOutputSerializer(many=True), 404: PROBLEM},
    )
    def get(self, request, endpoint_id: str):
        endpoint = _endpoint(request, endpoint_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.webhook_delivery_list_for_endpoint(endpoint=endpoint), request, view=self
        )
        return paginator.get_paginated_response(
            WebhookDeliveryOutputSerializer(page, many=True).data
        )


class WebhookDeliveryDetailApi(APIView):
    @extend_schema(
        operation_id="webhook_deliveries_retrieve",
        summary="Get a webhook delivery",
        description="One delivery with the payload that was signed and sent, and every "
        "attempt: when, how long, the answer's status and first bytes, or the error.",
        responses={200: WebhookDeliveryDetailOutputSerializer, 404: PROBLEM},
        examples=[OpenApiExample("Sent", value=examples.DELIVERY_DETAIL, response_only=True)],
    )
    def get(self, request, delivery_id: str):
        return Response(WebhookDeliveryDetailOutputSerializer(_delivery(request, delivery_id)).data)


class WebhookDeliveryReplayApi(APIView):
    throttle_classes = ON_DEMAND_THROTTLES

    @extend_schema(
        operation_id="webhook_deliveries_replay",
        summary="Send a webhook delivery again",
        request=NoFieldsInputSerializer,
        examples=examples.DELIVERY_REPLAY,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={202: WebhookDeliveryOutputSerializer, 404: PROBLEM, 409: PROBLEM, 429: PROBLEM},
        description="Send the delivery again as a fresh first attempt; `webhook-id` stays "
        "the event id, so a receiver that already has it can tell.",
    )
    def post(self, request, delivery_id: str):
        delivery = _delivery(request, delivery_id)
        NoFieldsInputSerializer(data=request.data).is_valid(raise_exception=True)

        def replay() -> tuple[int, dict]:
            replayed = services.webhook_delivery_replay(delivery=delivery)
            return status.HTTP_202_ACCEPTED, WebhookDeliveryOutputSerializer(replayed).data

        return idempotent(request, scope=_scope(request), operation=replay)
