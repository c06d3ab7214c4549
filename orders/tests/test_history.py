"""Transition history: every status change records who asked, why, and in which chain."""

import pytest

from orderflow.correlation import reset_correlation_id, set_correlation_id
from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.relay import relay_batch
from orders import services, state_machine
from orders.exceptions import InvalidTransition
from orders.models import Order, OrderTransition, ShopAPIKey
from testkit.factories import STAFF, order_for, order_in

from .assertions import row_counts

pytestmark = pytest.mark.django_db


def _history(order) -> list[tuple[str, str, str, str, str]]:
    return list(
        OrderTransition.objects.filter(order=order).values_list(
            "from_status", "to_status", "actor", "reason", "correlation_id"
        )
    )


@pytest.fixture
def correlation_id():
    token = set_correlation_id("corr-history-1")
    try:
        yield "corr-history-1"
    finally:
        reset_correlation_id(token)


def test_the_saga_writes_system_with_the_correlation_id_of_the_event(
    api, shop, products, order_body
):
    response = api.post("/api/v1/orders", order_body(), format="json", HTTP_X_CORRELATION_ID="c-7")
    order = Order.objects.get(pk=response.json()["id"])
    relay_batch()
    (delivery,) = [
        d for d in claim_batch() if d.subscriber == "orders.reserve_stock_on_order_placed"
    ]

    assert run_delivery(delivery) == "done"

    assert _history(order) == [("placed", "reserved", "system", "", "c-7")]


def test_a_shop_request_writes_its_key_the_reason_and_the_request_correlation_id(
    api, shop, products
):
    order = order_in(shop, "reserved")
    prefix = ShopAPIKey.objects.get(shop=shop).prefix

    response = api.post(
        f"/api/v1/orders/{order.pk}/cancel",
        {"reason": "customer changed mind"},
        format="json",
        HTTP_X_CORRELATION_ID="req-42",
    )

    assert response.status_code == 200, response.content
    assert _history(order)[-1] == (
        "reserved",
        "cancelled",
        f"shop-key:{prefix}",
        "customer changed mind",
        "req-42",
    )


def test_staff_writes_their_name(shop, products, correlation_id):
    order = order_for(shop)

    services.order_cancel(order_id=order.pk, shop=None, actor=STAFF, reason="duplicate")

    assert _history(order) == [("placed", "cancelled", "staff:ana", "duplicate", correlation_id)]


def test_outside_any_request_or_event_the_correlation_id_is_empty(shop, products):
    order = order_for(shop)

    state_machine.transition(order, to="reserved")

    assert _history(order) == [("placed", "reserved", "system", "", "")]


def test_a_whole_life_writes_one_row_per_transition_in_order(shop, products, correlation_id):
    order = order_in(shop, "delivered")

    assert [(f, t, a) for f, t, a, _, _ in _history(order)] == [
        ("placed", "reserved", "system"),
        ("reserved", "paid", "system"),
        ("paid", "confirmed", "system"),
        ("confirmed", "shipped", "staff:ana"),
        ("shipped", "out_for_delivery", "staff:ana"),
        ("out_for_delivery", "delivered", "staff:ana"),
    ]
    assert {c for _, _, _, _, c in _history(order)} == {correlation_id}


def test_a_refused_transition_writes_no_history(shop, products):
    order = order_in(shop, "shipped")
    before = row_counts()

    with pytest.raises(InvalidTransition):
        services.order_cancel(order_id=order.pk, shop=None, actor=STAFF)

    assert row_counts() == before
    assert len(_history(order)) == 4


def test_a_stale_writer_writes_no_history(shop, products):
    order = order_for(shop)
    stale = Order.objects.get(pk=order.pk)
    state_machine.transition(order, to="cancelled")

    with pytest.raises(InvalidTransition):
        state_machine.transition(stale, to="reserved")

    assert _history(order) == [("placed", "cancelled", "system", "", "")]


def test_a_long_reason_is_kept_to_its_first_500_characters(shop, products):
    order = order_for(shop)

    state_machine.transition(order, to="cancelled", actor=str(STAFF), reason="x" * 600)

    assert _history(order) == [("placed", "cancelled", "staff:ana", "x" * 500, "")]
    assert Order.objects.get(pk=order.pk).status_reason == "x" * 500
