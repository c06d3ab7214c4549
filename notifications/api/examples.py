"""Example requests and answers of the webhook API, as ReDoc and Swagger UI show them.

Taken from real answers of the API and checked against the schema by
``orderflow/tests/api/test_operation_docs.py``. A list operation names one item:
drf-spectacular wraps it in the list and the page.
"""

from drf_spectacular.utils import OpenApiExample

ENDPOINT_ID = "ddf6a2ee-2d35-4863-9978-3fa6939ca5b2"
ENDPOINT = {
    "id": ENDPOINT_ID,
    "url": "https://cafe-aurora.example/hooks/orderflow",
    "description": "Shop back office",
    "event_types": ["order.placed", "order.cancelled"],
    "active": True,
    "disabled": False,
    "disabled_at": None,
    "disabled_reason": "",
    "failing_since": None,
    "previous_secret_expires_at": None,
    "created_at": "2026-12-04T14:41:09.036933Z",
    "updated_at": "2026-12-04T14:41:09.036960Z",
}
WITH_SECRET = {**ENDPOINT, "secret": "whsec_GTLM4BpBFF5TkxFVfdrOOA+966W5TuxMD7HN/kjPWlQ="}
DELIVERY = {
    "id": "98858307-db03-4f39-a7d3-23f3c356529a",
    "endpoint_id": ENDPOINT_ID,
    "event_id": "f564e1be-ef94-4535-b097-4fcace05d722",
    "event_type": "webhook.test",
    "status": "queued",
    "attempts": 0,
    "next_attempt_at": "2026-12-04T14:41:09.053696Z",
    "last_status_code": None,
    "last_error": "",
    "created_at": "2026-12-04T14:41:09.054134Z",
    "sent_at": None,
    "replayed_at": None,
}
SENT = {
    **DELIVERY,
    "status": "sent",
    "attempts": 1,
    "next_attempt_at": None,
    "last_status_code": 200,
    "sent_at": "2026-12-04T14:41:09.402518Z",
}
DELIVERY_DETAIL = {
    **SENT,
    "payload": {
        "event_id": "f564e1be-ef94-4535-b097-4fcace05d722",
        "type": "webhook.test",
        "version": 1,
        "occurred_at": "2026-12-04T14:41:09.053696+00:00",
        "aggregate": "webhook_endpoint",
        "aggregate_id": ENDPOINT_ID,
        "sequence": 0,
        "correlation_id": "3e259d2b565f43e5bc136ed479da3d37",
        "causation_id": "",
        "data": {
            "message": "A test event from OrderFlow: your endpoint is reachable.",
            "shop_id": 1,
            "endpoint_id": ENDPOINT_ID,
        },
    },
    "log": [
        {
            "number": 1,
            "request_id": "6a0f3e1c-92b4-4d7a-8e55-1c2b3d4e5f60",
            "url": "https://cafe-aurora.example/hooks/orderflow",
            "started_at": "2026-12-04T14:41:09.310042Z",
            "duration_ms": 92,
            "status_code": 200,
            "response_body": "ok",
            "error": "",
            "outcome": "sent",
            "next_attempt_at": None,
        }
    ],
}

ENDPOINT_CREATE = [
    OpenApiExample(
        "Orders placed and cancelled",
        value={
            "url": "https://cafe-aurora.example/hooks/orderflow",
            "event_types": ["order.placed", "order.cancelled"],
            "description": "Shop back office",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Registered, with its secret", value=WITH_SECRET, response_only=True, status_codes=["201"]
    ),
]
ENDPOINT_UPDATE = [
    OpenApiExample(
        "Every event type", value={"event_types": []}, request_only=True, summary="[] means all"
    ),
    OpenApiExample("Changed", value={**ENDPOINT, "event_types": []}, response_only=True),
]
ROTATE = [
    OpenApiExample(
        "Keep the old one a day", value={"keep_previous_for_hours": 24}, request_only=True
    ),
    OpenApiExample(
        "Rotated",
        value={
            **WITH_SECRET,
            "secret": "whsec_C8gfTEMpFxSrofhdVjn6BVKRUHJT60cVYIb8CBm34nk=",
            "previous_secret_expires_at": "2026-12-05T14:41:09.046124Z",
        },
        response_only=True,
    ),
]
SEND_TEST = [
    OpenApiExample("No body", value={}, request_only=True),
    OpenApiExample("Queued", value=DELIVERY, response_only=True, status_codes=["202"]),
]
REPLAY_SINCE = [
    OpenApiExample("Since Monday", value={"since": "2026-11-30T00:00:00Z"}, request_only=True),
    OpenApiExample(
        "Queued again", value={"replayed": 12}, response_only=True, status_codes=["202"]
    ),
]
DELIVERY_REPLAY = [
    OpenApiExample("No body", value={}, request_only=True),
    OpenApiExample(
        "Queued again",
        value={**DELIVERY, "replayed_at": "2026-12-04T15:02:44.120931Z"},
        response_only=True,
        status_codes=["202"],
    ),
]
