"""POST /api/v1/orders/{id}/cancel-remainder when the payment provider declines the refund.

The declined refund is kept (its gateway key is used up), the order is left as it was, and
the shop's retry is a new refund under a new key: it goes through.
"""

from decimal import Decimal

import pytest

from orderflow.models import IdempotencyKey, OutboxEvent
from orders.models import Order
from orders.services.dispatch import ShipmentLineInput, shipment_create
from payments.gateway import SimulatedGateway
from payments.models import Payment
from testkit.factories import STAFF
from testkit.payments import confirmed_order

from ..assertions import assert_problem, order_events, stock_of
from ..declining_gateway import decline_first_refund, refund_calls_of, refund_key, refunds_of

DECLINED_DETAIL = (
    "The payment provider declined the refund; nothing was cancelled. Try again later."
)


def _partly_shipped(shop) -> Order:
    """Paid 59.70 (2 x COFFEE-1KG at 24.90, 1 x MUG at 9.90); one coffee has left."""
    order, _ = confirmed_order(shop)
    shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number=f"JD-{order.number}",
        lines=[ShipmentLineInput("COFFEE-1KG", 1)],
    )
    return Order.objects.get(pk=order.pk)


def _cancel_rest(api, order, **headers):
    return api.post(
        f"/api/v1/orders/{order.pk}/cancel-remainder",
        {"reason": "The mug is out of stock"},
        format="json",
        **headers,
    )


@pytest.mark.django_db
def test_a_declined_refund_is_a_409_kept_and_the_retry_cancels_the_rest(
    api, shop, products, monkeypatch
):
    order = _partly_shipped(shop)
    decline_first_refund(monkeypatch)
    stock, events = stock_of(shop), order_events(order)

    declined = _cancel_rest(api, order)

    body = assert_problem(declined, status=409, type_slug="remainder-refund-refused")
    body.pop("correlation_id", None)
    assert body == {  # the problem as it was before a declined refund was kept
        "type": "/api/problems/remainder-refund-refused",
        "title": "The remainder's refund was refused",
        "status": 409,
        "detail": DECLINED_DETAIL,
        "instance": f"/api/v1/orders/{order.pk}/cancel-remainder",
        "errors": [],
    }
    assert list(body) == ["type", "title", "status", "detail", "instance", "errors"]
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"
    assert (stock_of(shop), order_events(order)) == (stock, events)
    assert refunds_of(order.pk) == [("failed", refund_key(order.pk, 1))]
    assert refund_calls_of(order.pk) == [("declined", refund_key(order.pk, 1))]
    assert Payment.objects.get(order_id=order.pk).refunded_amount == Decimal("0.00")

    retried = _cancel_rest(api, order)

    assert retried.status_code == 200, retried.content
    assert (retried.json()["status"], retried.json()["refunded_total"]) == ("shipped", "34.80")
    assert refunds_of(order.pk) == [
        ("failed", refund_key(order.pk, 1)),
        ("succeeded", refund_key(order.pk, 2)),
    ]
    assert refund_calls_of(order.pk) == [
        ("declined", refund_key(order.pk, 1)),
        ("succeeded", refund_key(order.pk, 2)),
    ]
    assert SimulatedGateway.effects("refund", refund_key(order.pk, 1)) == 0
    assert SimulatedGateway.effects("refund", refund_key(order.pk, 2)) == 1
    # the mug's reservation and the unshipped coffee's, released once
    assert stock_of(shop) == {"COFFEE-1KG": (49, 0), "MUG": (20, 0), "FILTER": (1000, 0)}
    assert OutboxEvent.objects.filter(type="order.remainder_cancelled").count() == 1
    assert OutboxEvent.objects.filter(type="payment.refunded").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_idempotency_key_reused_after_a_decline_runs_the_retry(api, shop, products, monkeypatch):
    """The decline commits in the idempotency store's own transaction (the outermost here,
    as in production) and stores no answer, so the same key's retry is a first attempt."""
    order = _partly_shipped(shop)
    decline_first_refund(monkeypatch)

    declined = _cancel_rest(api, order, HTTP_IDEMPOTENCY_KEY="rest-1")

    assert_problem(declined, status=409, type_slug="remainder-refund-refused")
    assert "Idempotent-Replayed" not in declined
    assert not IdempotencyKey.objects.exists()
    assert refunds_of(order.pk) == [("failed", refund_key(order.pk, 1))]

    retried = _cancel_rest(api, order, HTTP_IDEMPOTENCY_KEY="rest-1")
    replayed = _cancel_rest(api, order, HTTP_IDEMPOTENCY_KEY="rest-1")

    assert (retried.status_code, replayed.status_code) == (200, 200), retried.content
    assert "Idempotent-Replayed" not in retried
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == retried.json()
    assert retried.json()["status"] == "shipped"
    assert list(IdempotencyKey.objects.values_list("key", "response_status")) == [("rest-1", 200)]
    assert [status for status, _ in refunds_of(order.pk)] == ["failed", "succeeded"]
    assert OutboxEvent.objects.filter(type="order.remainder_cancelled").count() == 1
