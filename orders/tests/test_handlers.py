"""The orders context's subscribers, run in-process through the relay: each calls its service."""

import uuid
from decimal import Decimal

import pytest
from django.db import transaction

from orderflow.correlation import reset_correlation_id, set_correlation_id
from orderflow.events import publish
from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.relay import relay_batch
from orderflow.models import OutboxEvent
from orders.models import Order
from payments.events import PaymentCaptured, PaymentFailed
from testkit.factories import order_for, order_in

from .assertions import order_events, row_counts, stock_of

pytestmark = pytest.mark.django_db


def _run(subscriber: str) -> str:
    """Relay what was published, then run the one delivery of ``subscriber``."""
    relay_batch()
    (delivery,) = [d for d in claim_batch() if d.subscriber == subscriber]
    return run_delivery(delivery)


def _publish(event) -> OutboxEvent:
    token = set_correlation_id("corr-payment-1")
    try:
        with transaction.atomic():
            return publish(event)
    finally:
        reset_correlation_id(token)


def test_order_placed_reserves_the_stock_once(shop, products):
    order = order_for(shop, lines={"MUG": 2})
    relay_batch()
    (delivery,) = [
        d for d in claim_batch() if d.subscriber == "orders.reserve_stock_on_order_placed"
    ]

    first = run_delivery(delivery)
    before = row_counts()
    again = run_delivery(delivery)

    assert (first, again) == ("done", "duplicate")
    assert Order.objects.get(pk=order.pk).status == "reserved"
    assert stock_of(shop)["MUG"] == (20, 2)
    assert row_counts() == before
    placed = OutboxEvent.objects.get(type="order.placed")
    reserved = OutboxEvent.objects.get(type="stock.reserved")
    assert (reserved.causation_id, reserved.correlation_id) == (
        str(placed.event_id),
        placed.correlation_id,
    )


def _captured(order: Order, payment_id: uuid.UUID) -> OutboxEvent:
    """Publish the capture of ``order``'s 19.80 EUR, as the payments context does."""
    return _publish(
        PaymentCaptured(
            payment_id=payment_id,
            order_id=order.pk,
            shop_id=order.shop_id,
            amount=Decimal("19.80"),
            currency="EUR",
            gateway_reference="sim_cap_1",
        )
    )


def test_payment_captured_pays_and_confirms_the_order(shop, products):
    order = order_in(shop, "reserved", lines={"MUG": 2})
    payment_id = uuid.uuid4()
    captured = _captured(order, payment_id)

    assert _run("orders.confirm_order_on_payment_captured") == "done"

    assert Order.objects.get(pk=order.pk).status == "confirmed"
    assert order_events(order)[-2:] == [(3, "order.paid"), (4, "order.confirmed")]
    paid = OutboxEvent.objects.get(type="order.paid")
    assert (paid.data["payment_id"], paid.data["amount"]) == (str(payment_id), "19.80")
    assert (paid.causation_id, paid.correlation_id) == (str(captured.event_id), "corr-payment-1")


def test_the_confirm_step_writes_its_two_events_in_its_last_statement(
    shop, products, assert_statements
):
    # given a reserved order whose payment was captured
    order = order_in(shop, "reserved", lines={"MUG": 2})
    _captured(order, uuid.uuid4())
    relay_batch()
    (delivery,) = [
        d for d in claim_batch() if d.subscriber == "orders.confirm_order_on_payment_captured"
    ]

    # when the lane runs the step (the service under atomic(savepoint=False))
    with assert_statements(None) as sent:
        assert run_delivery(delivery) == "done"

    # then order.paid and order.confirmed went out with the inbox entry, in their order
    body = [s for s in sent if not s.startswith(("SAVEPOINT", "RELEASE"))]
    assert not [s for s in body if s.startswith("INSERT INTO orderflow_outboxevent")]
    assert body[-1].startswith("WITH inbox AS")
    assert order_events(order)[-2:] == [(3, "order.paid"), (4, "order.confirmed")]


def test_payment_failed_cancels_the_order_and_releases_its_stock(shop, products):
    order = order_in(shop, "reserved", lines={"MUG": 2})
    _publish(
        PaymentFailed(
            payment_id=uuid.uuid4(),
            order_id=order.pk,
            shop_id=shop.pk,
            amount=Decimal("19.80"),
            currency="EUR",
            decline_code="card_declined",
            reason="The card was declined.",
        )
    )

    assert _run("orders.cancel_order_on_payment_failed") == "done"

    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.status_reason) == (
        "cancelled",
        "Payment failed: The card was declined.",
    )
    assert stock_of(shop)["MUG"] == (20, 0)
    assert order_events(order)[-1] == (3, "order.cancelled")
