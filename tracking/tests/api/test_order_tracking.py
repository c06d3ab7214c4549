"""``GET /api/v1/orders/{id}/tracking``: the current status and the full history."""

import pytest
from rest_framework.test import APIClient

from testkit.factories import ShopFactory, api_key_for
from tracking.live_status import live_status_forget


def client_for(shop) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(shop)}")
    return client


def test_answers_status_and_history(place, settle, shop):
    order = place()
    settle()

    response = client_for(shop).get(f"/api/v1/orders/{order.id}/tracking")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["sequence"], body["next_step"]) == (
        "confirmed",
        4,
        "Packing and handing to the carrier",
    )
    assert [entry["status"] for entry in body["history"] if entry["aggregate"] == "order"] == [
        "placed",
        "reserved",
        "paid",
        "confirmed",
    ]
    placed = body["history"][0]
    assert set(placed) == {
        "id", "status", "label", "aggregate", "sequence", "occurred_at", "source", "note",
        "location", "shipment_id", "tracking_number",
    }  # fmt: skip
    assert (placed["source"], placed["label"]) == ("shop", "Order placed")
    assert (placed["shipment_id"], placed["tracking_number"]) == (None, "")


def test_answers_a_just_placed_order_before_its_events_are_handled(place, shop):
    order = place()

    response = client_for(shop).get(f"/api/v1/orders/{order.id}/tracking")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["history"]) == ("placed", [])


def test_the_status_is_rebuilt_after_redis_lost_it(place, settle, shop):
    order = place()
    settle()
    live_status_forget(order.id)

    response = client_for(shop).get(f"/api/v1/orders/{order.id}/tracking")

    assert response.json()["status"] == "confirmed"


def test_another_shops_order_is_404(place, settle):
    order = place()
    settle()

    response = client_for(ShopFactory()).get(f"/api/v1/orders/{order.id}/tracking")

    assert response.status_code == 404
    assert response.json()["type"] == "/api/problems/not-found"


@pytest.mark.parametrize("order_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_an_unknown_order_is_404(shop, order_id):
    response = client_for(shop).get(f"/api/v1/orders/{order_id}/tracking")

    assert response.status_code == 404


def test_needs_the_shops_key(place):
    order = place()

    response = APIClient().get(f"/api/v1/orders/{order.id}/tracking")

    assert response.status_code == 401


def test_the_orders_api_links_the_public_tracking_page(place, shop):
    order = place()

    response = client_for(shop).get(f"/api/v1/orders/{order.id}")

    assert response.json()["tracking_url"] == (
        f"https://track.example.com/track/{order.tracking_token}"
    )
