import pytest

from orderflow.models import IdempotencyKey, OutboxEvent
from orders.models import Order, OrderLine

pytestmark = pytest.mark.django_db


def test_places_order_priced_from_catalog(api, products, order_body):
    body = order_body(
        lines=[
            {"sku": "COFFEE-1KG", "quantity": 2, "unit_price": "0.01"},
            {"sku": "MUG", "quantity": 1},
        ],
        total="0.01",
    )

    response = api.post("/api/v1/orders", body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "placed"
    assert data["subtotal"] == "59.70"
    assert data["total"] == "59.70"
    assert [(line["sku"], line["unit_price"], line["line_total"]) for line in data["lines"]] == [
        ("COFFEE-1KG", "24.90", "49.80"),
        ("MUG", "9.90", "9.90"),
    ]
    assert data["allowed_actions"] == ["cancel"]
    assert Order.objects.count() == 1
    assert OrderLine.objects.count() == 2
    event = OutboxEvent.objects.get()
    assert (event.type, event.aggregate_id, event.sequence) == ("order.placed", data["id"], 1)
    assert event.data["total"] == "59.70"
    assert IdempotencyKey.objects.count() == 0
