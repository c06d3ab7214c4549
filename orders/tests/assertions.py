"""Assertions shared by the orders tests: the problem+json shape and "nothing was written"."""

from orderflow.models import IdempotencyKey, OutboxEvent
from orders.models import Order, OrderLine, OrderTransition, Product, Shop

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
        "order_transitions": OrderTransition.objects.count(),
        "outbox_events": OutboxEvent.objects.count(),
        "idempotency_keys": IdempotencyKey.objects.count(),
        "products": Product.objects.count(),
    }


def stock_of(shop: Shop) -> dict[str, tuple[int, int]]:
    """Each of the shop's products as SKU -> (on hand, reserved)."""
    return {
        sku: (on_hand, reserved)
        for sku, on_hand, reserved in Product.objects.filter(shop=shop).values_list(
            "sku", "on_hand", "reserved"
        )
    }


def order_events(order: Order) -> list[tuple[int, str]]:
    """The order's published events as (sequence, type), in sequence order."""
    return list(
        OutboxEvent.objects.filter(aggregate="order", aggregate_id=str(order.pk))
        .order_by("sequence")
        .values_list("sequence", "type")
    )
