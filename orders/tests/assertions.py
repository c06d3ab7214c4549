"""Assertions shared by the orders tests: the problem+json shape and "nothing was written"."""

from orderflow.models import IdempotencyKey, OutboxEvent
from orders.models import Order, OrderLine, Product

PROBLEM_CONTENT_TYPE = "application/problem+json"


def assert_problem(response, *, status: int, type_slug: str) -> dict:
    """Check an RFC 9457 answer: status, media type, problem type and every required member."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    body = response.json()
    assert body["type"] == f"/api/problems/{type_slug}"
    assert body["status"] == status
    assert {"type", "title", "status", "detail", "errors"} <= set(body)
    assert body["title"]
    assert body["detail"]
    return body


def row_counts() -> dict[str, int]:
    """Count the rows that any API write could leave behind."""
    return {
        "orders": Order.objects.count(),
        "order_lines": OrderLine.objects.count(),
        "outbox_events": OutboxEvent.objects.count(),
        "idempotency_keys": IdempotencyKey.objects.count(),
        "products": Product.objects.count(),
    }
