"""POST /api/v1/orders/{id}/cancel-remainder: a partly shipped order's rest, over the API."""

import pytest

from orderflow.models import OutboxEvent
from orders.models import Order, ShopAPIKey
from orders.services.dispatch import ShipmentLineInput, shipment_create
from payments.gateway import GatewayResult
from payments.models import Refund
from payments.services import refunding
from testkit.factories import STAFF, order_in
from testkit.payments import confirmed_order

from ..assertions import assert_problem, row_counts, stock_of

pytestmark = pytest.mark.django_db


def _partly_shipped(shop, lines=None) -> Order:
    """Paid 59.70 (2 x COFFEE-1KG at 24.90, 1 x MUG at 9.90); one coffee has left."""
    order, _ = confirmed_order(shop)
    shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number=f"JD-{order.number}",
        lines=[ShipmentLineInput(sku, n) for sku, n in (lines or {"COFFEE-1KG": 1}).items()],
    )
    return Order.objects.get(pk=order.pk)


def _cancel_rest(api, order, body=None, **headers):
    return api.post(
        f"/api/v1/orders/{order.pk}/cancel-remainder", body or {}, format="json", **headers
    )


def test_cancels_the_rest_and_answers_the_order_shipped_and_partly_refunded(api, shop, products):
    order = _partly_shipped(shop)

    response = _cancel_rest(api, order, {"reason": "The mug is out of stock"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["status_reason"]) == ("shipped", "The mug is out of stock")
    assert (body["payment_status"], body["refunded_total"]) == ("partially_refunded", "34.80")
    assert body["allowed_actions"] == ["out_for_delivery", "deliver"]
    assert [line["lines"] for line in body["shipments"]] == [[{"sku": "COFFEE-1KG", "quantity": 1}]]
    assert stock_of(shop) == {"COFFEE-1KG": (49, 0), "MUG": (20, 0), "FILTER": (1000, 0)}
    event = OutboxEvent.objects.get(type="order.remainder_cancelled")
    prefix = ShopAPIKey.objects.get(shop=shop).prefix
    assert (event.tenant_id, event.data["actor"], event.data["refunded_amount"]) == (
        str(shop.id),
        f"shop-key:{prefix}",
        "34.80",
    )
    assert [(line["sku"], line["quantity"]) for line in event.data["lines"]] == [
        ("COFFEE-1KG", 1),
        ("MUG", 1),
    ]


def test_no_body_is_enough(api, shop, products):
    order = _partly_shipped(shop)

    response = api.post(f"/api/v1/orders/{order.pk}/cancel-remainder")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "shipped"


def test_a_retry_with_the_same_key_replays_the_answer_and_refunds_once(api, shop, products):
    order = _partly_shipped(shop)
    first = _cancel_rest(api, order, {"reason": "late"}, HTTP_IDEMPOTENCY_KEY="rest-1")

    again = _cancel_rest(api, order, {"reason": "late"}, HTTP_IDEMPOTENCY_KEY="rest-1")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Refund.objects.count() == 1
    assert OutboxEvent.objects.filter(type="order.remainder_cancelled").count() == 1


def test_the_same_key_with_another_body_is_refused(api, shop, products):
    order = _partly_shipped(shop)
    _cancel_rest(api, order, {"reason": "late"}, HTTP_IDEMPOTENCY_KEY="rest-1")

    response = _cancel_rest(api, order, {"reason": "other"}, HTTP_IDEMPOTENCY_KEY="rest-1")

    assert_problem(response, status=422, type_slug="idempotency-key-reused")


def test_a_second_request_finds_nothing_left_to_cancel(api, shop, products):
    order = _partly_shipped(shop)
    _cancel_rest(api, order)
    before, stock = row_counts(), stock_of(shop)

    response = _cancel_rest(api, order)

    body = assert_problem(response, status=409, type_slug="remainder-not-cancellable")
    assert (body["cause"], body["order_status"]) == ("fully_shipped", "shipped")
    assert "nothing is left to cancel" in body["detail"]
    assert (row_counts(), stock_of(shop), Refund.objects.count()) == (before, stock, 1)


def test_an_order_with_nothing_shipped_is_told_to_cancel_instead(api, shop, products):
    order = order_in(shop, "confirmed", lines={"MUG": 1})
    before = row_counts()

    response = _cancel_rest(api, order)

    body = assert_problem(response, status=409, type_slug="remainder-not-cancellable")
    assert (body["cause"], body["allowed_actions"]) == ("not_shipped", ["cancel", "ship"])
    assert "Cancel the whole order instead" in body["detail"]
    assert row_counts() == before


def test_a_capture_not_made_yet_is_a_409_to_retry(api, shop, products):
    order = order_in(shop, "confirmed", lines={"MUG": 2})  # its payment not captured yet
    shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number="JD-WAIT",
        lines=[ShipmentLineInput("MUG", 1)],
    )
    before = row_counts()

    response = _cancel_rest(api, order)

    body = assert_problem(response, status=409, type_slug="payment-in-flight")
    assert body["payment_status"] == "pending"
    assert response["Retry-After"] == "5"
    assert row_counts() == before


def test_a_refund_refused_by_the_payments_context_is_a_409(api, shop, products, monkeypatch):
    order = _partly_shipped(shop)

    class DecliningGateway:  # the payment provider, outside the system
        def refund(self, **call):
            return GatewayResult(ok=False, reference="", message="card closed")

    monkeypatch.setattr(refunding, "get_gateway", DecliningGateway)

    response = _cancel_rest(api, order)

    body = assert_problem(response, status=409, type_slug="remainder-refund-refused")
    assert "declined the refund; nothing was cancelled" in body["detail"]
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"


@pytest.mark.parametrize(
    "body",
    [{"restock": True}, {"reason": 7}, {"reason": "x" * 501}],
    ids=["unknown field", "not a string", "too long"],
)
def test_bad_input_is_a_400_and_changes_nothing(api, shop, products, body):
    order = _partly_shipped(shop)
    before = row_counts()

    response = _cancel_rest(api, order, body)

    assert_problem(response, status=400, type_slug="validation-error")
    assert row_counts() == before
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"


def test_another_shops_order_is_a_404(other_api, shop, products):
    order = _partly_shipped(shop)

    response = _cancel_rest(other_api, order)

    assert_problem(response, status=404, type_slug="not-found")
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"


def test_an_id_that_is_no_uuid_is_a_404(api, shop, products):
    response = api.post("/api/v1/orders/not-a-uuid/cancel-remainder", {}, format="json")

    assert_problem(response, status=404, type_slug="not-found")
