"""The event contract for shops: declared types with JSON Schemas, and a catch-up feed."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from orderflow.events import event_types
from orderflow.models import OutboxEvent

FEED_PAGE_SIZE = 100
FEED_MAX_PAGE_SIZE = 500
#: the largest feed position: a bigint; a larger ``after`` overflowed PostgreSQL's (500)
MAX_POSITION = 2**63 - 1


ORDER_CANCELLED_SCHEMA = {
    "description": "The order was cancelled before shipping: its stock is released, a "
    "capture is refunded.",
    "properties": {
        "order_id": {"format": "uuid", "title": "Order Id", "type": "string"},
        "shop_id": {"title": "Shop Id", "type": "integer"},
        "number": {"title": "Number", "type": "string"},
        "previous_status": {"title": "Previous Status", "type": "string"},
        "reason": {"title": "Reason", "type": "string"},
        "cancelled_by": {"title": "Cancelled By", "type": "string"},
    },
    "required": ["order_id", "shop_id", "number", "previous_status", "reason", "cancelled_by"],
    "title": "order.cancelled v1",
    "type": "object",
}
ORDER_CANCELLED_TYPE = {
    "type": "order.cancelled",
    "version": 1,
    "aggregate": "order",
    "description": ORDER_CANCELLED_SCHEMA["description"],
    "schema": ORDER_CANCELLED_SCHEMA,
}
EVENT_EXAMPLE = {
    "event_id": "3f1b7c9e-5a2d-4e8f-b6c1-9d0a2e4f7b35",
    "type": "order.cancelled",
    "version": 1,
    "occurred_at": "2026-11-25T11:20:04.918355Z",
    "aggregate": "order",
    "aggregate_id": "9ecfe41b-8a39-47e1-8b81-2aae8cf53595",
    "sequence": 2,
    "position": 1187,
    "correlation_id": "0b4284185aaf4c8ba6a37ed0c197538e",
    "causation_id": "",
    "data": {
        "order_id": "9ecfe41b-8a39-47e1-8b81-2aae8cf53595",
        "shop_id": 1,
        "number": "OF-7SR8K4PG",
        "previous_status": "placed",
        "reason": "customer changed their mind",
        "cancelled_by": "shop-key:ZGP1u7LV",
    },
}


class EventEnvelopeOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutboxEvent
        fields = [
            "event_id",
            "type",
            "version",
            "occurred_at",
            "aggregate",
            "aggregate_id",
            "sequence",
            "position",
            "correlation_id",
            "causation_id",
            "data",
        ]


def _type_summary(cls) -> dict:
    return {
        "type": cls.type,
        "version": cls.version,
        "aggregate": cls.aggregate,
        "description": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        "schema": cls.json_schema(),
    }


class EventTypeListApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        operation_id="event_types_list",
        summary="List event types",
        responses={200: OpenApiTypes.OBJECT},
        description="Every event type and version OrderFlow publishes, with the JSON Schema "
        "of its `data`: what the event feed and webhooks carry. No key needed.",
        examples=[
            OpenApiExample(
                "One of them", value={"results": [ORDER_CANCELLED_TYPE]}, response_only=True
            )
        ],
    )
    def get(self, request):
        declared = sorted(event_types().values(), key=lambda c: (c.type, c.version))
        return Response({"results": [_type_summary(cls) for cls in declared]})


class EventTypeDetailApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        operation_id="event_types_retrieve",
        summary="Get an event type",
        description="Every version of one event type (e.g. `order.cancelled`), each with the "
        "JSON Schema of its `data`. An unknown type is a 404. No key needed.",
        responses={200: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "order.cancelled",
                value={"type": "order.cancelled", "versions": [ORDER_CANCELLED_TYPE]},
                response_only=True,
            )
        ],
    )
    def get(self, request, event_type: str):
        versions = sorted(
            (cls for (name, _), cls in event_types().items() if name == event_type),
            key=lambda c: c.version,
        )
        if not versions:
            raise Http404(f"No event type {event_type!r}.")
        return Response({"type": event_type, "versions": [_type_summary(cls) for cls in versions]})


class EventFeedApi(APIView):
    @extend_schema(
        operation_id="events_list",
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": MAX_POSITION},
                description="Return events after this position.",
            ),
            # its enum, the declared types, is filled in by orderflow.api.schema
            OpenApiParameter("type", OpenApiTypes.STR, many=True),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": FEED_MAX_PAGE_SIZE},
                description=f"Events per page (default {FEED_PAGE_SIZE}).",
            ),
        ],
        responses={
            200: inline_serializer(
                "EventFeedPage",
                {
                    "results": EventEnvelopeOutputSerializer(many=True),
                    "next": serializers.CharField(allow_null=True),
                    "last_position": serializers.IntegerField(),
                },
            )
        },
        summary="Read the shop's event feed",
        description="The shop's own events in the order they were committed. Store "
        "`last_position` and pass it as `after` to continue where you left off; `type` "
        "(repeatable) keeps the types named, and an unknown one is a 400.",
        examples=[
            OpenApiExample(
                "A page of one event",
                value={
                    "results": [EVENT_EXAMPLE],
                    "next": "http://127.0.0.1:8000/api/v1/events?after=1187&limit=1",
                    "last_position": 1187,
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        after = _int_param(request, "after", default=0, minimum=0, maximum=MAX_POSITION)
        limit = _int_param(
            request, "limit", default=FEED_PAGE_SIZE, minimum=1, maximum=FEED_MAX_PAGE_SIZE
        )
        events = OutboxEvent.objects.filter(
            tenant_id=request.user.tenant_id, position__gt=after
        ).order_by("position")
        types = request.query_params.getlist("type")
        if any("\x00" in name for name in types):
            # PostgreSQL text cannot hold NUL: without this check it is a 500, not a 400
            raise ValidationError({"type": ["Must not contain NUL characters."]})
        known = {name for name, _ in event_types()}
        unknown = [name for name in types if name not in known]
        if unknown:
            # an empty page would read as "nothing happened" to a client with a typo
            raise ValidationError(
                {
                    "type": [
                        ErrorDetail(
                            f"Unknown event type {name!r}; GET /api/v1/event-types lists them.",
                            code="invalid_choice",
                        )
                        for name in unknown
                    ]
                }
            )
        if types:
            events = events.filter(type__in=types)
        page = list(events[:limit])
        last_position = page[-1].position if page else after
        next_url = None
        if len(page) == limit:
            query = request.query_params.copy()
            query["after"] = str(last_position)
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response(
            {
                "results": EventEnvelopeOutputSerializer(page, many=True).data,
                "next": next_url,
                "last_position": last_position,
            }
        )


def _int_param(request, name: str, *, default: int, minimum: int, maximum: int | None = None):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: ["Must be a whole number."]}) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ValidationError({name: [f"Must be {bound}."]})
    return value
