"""POST and GET /api/v1/orders/{id}/returns: a shop asks for a return of a shipped order."""

import uuid

import pytest

from orderflow.models import OutboxEvent
from orders import services as order_services
from orders.models import Return, ReturnLine
from orders.services import returns
from testkit.factories import STAFF, api_key_for, order_in
from testkit.payments import confirmed_order

from ..assertions import assert_problem

pytestmark = pytest.mark.django_db


def _url(order) -> str:
    return f"/api/v1/orders/{order.pk}/returns"


def _delivered(shop):
    order, _ = confirmed_order(shop)  # 2 x COFFEE-1KG, 1 x MUG
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number=f"JD{order.pk}"
    )
    return order_services.order_deliver(order_id=order.pk, shop=None, actor=STAFF)


def _nothing_written() -> tuple[int, int, int]:
    return (
        Return.objects.count(),
        ReturnLine.objects.count(),
        OutboxEvent.objects.filter(type__startswith="return.").count(),
    )


def test_a_shop_asks_for_a_return(api, shop, products):
    order = _delivered(shop)
    prefix = shop.api_keys.get().prefix

    response = api.post(
        _url(order),
        {"lines": [{"sku": "MUG", "quantity": 1}], "reason": "Arrived chipped."},
        format="json",
    )

    assert response.status_code == 201, response.content
    order_return = Return.objects.get()
    body = response.json()
    assert body == {
        "id": str(order_return.pk),
        "order_id": str(order.pk),
        "number": 1,
        "status": "requested",
        "reason": "Arrived chipped.",
        "lines": [{"sku": "MUG", "quantity": 1}],
        "rejection_reason": "",
        "restock": None,
        "refunded_amount": "0.00",
        "requested_by": f"shop-key:{prefix}",
        "decided_by": "",
        "received_by": "",
        "settled_by": "",
        "requested_at": body["requested_at"],
        "decided_at": None,
        "received_at": None,
        "settled_at": None,
    }
    assert OutboxEvent.objects.filter(type="return.requested", aggregate_id=str(order.pk)).exists()


def test_lists_the_orders_returns_oldest_first_with_their_steps(api, shop, products):
    order = _delivered(shop)
    first = returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("MUG", 1)],
        reason="chipped",
        actor=STAFF,
    )
    returns.return_reject(return_id=first.pk, actor=STAFF, reason="Used, not faulty.")
    returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("COFFEE-1KG", 2)],
        reason="wrong grind",
        actor=STAFF,
    )

    response = api.get(_url(order))

    assert response.status_code == 200
    assert [
        (r["number"], r["status"], r["rejection_reason"], r["decided_by"], r["lines"])
        for r in response.json()
    ] == [
        (1, "rejected", "Used, not faulty.", "staff:ana", [{"sku": "MUG", "quantity": 1}]),
        (2, "requested", "", "", [{"sku": "COFFEE-1KG", "quantity": 2}]),
    ]


def test_listing_costs_the_same_queries_for_one_return_or_many(
    api, shop, products, django_assert_max_num_queries
):
    order = _delivered(shop)
    for sku in ("MUG", "COFFEE-1KG"):
        returns.return_request(
            order_id=order.pk,
            shop_id=None,
            lines=[returns.ReturnLineInput(sku, 1)],
            reason="x",
            actor=STAFF,
        )
    with django_assert_max_num_queries(8) as few:
        api.get(_url(order))
    returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("COFFEE-1KG", 1)],
        reason="x",
        actor=STAFF,
    )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get(_url(order)).json()) == 3


def _lines(*lines) -> list[dict]:
    return [{"sku": sku, "quantity": quantity, **dict(*extra)} for sku, quantity, *extra in lines]


MUG = _lines(("MUG", 1))


@pytest.mark.parametrize(
    ("payload", "attr", "code"),
    [
        ({"reason": "x"}, "lines", "required"),
        ({"lines": MUG}, "reason", "required"),
        ({"lines": [], "reason": "x"}, "lines", "min_length"),
        ({"lines": "MUG", "reason": "x"}, "lines", "not_a_list"),
        ({"lines": [{"sku": "MUG"}], "reason": "x"}, "lines.0.quantity", "required"),
        ({"lines": [{"quantity": 1}], "reason": "x"}, "lines.0.sku", "required"),
        ({"lines": _lines(("MUG", 0)), "reason": "x"}, "lines.0.quantity", "min_value"),
        ({"lines": _lines(("MUG", "1")), "reason": "x"}, "lines.0.quantity", "invalid"),
        ({"lines": _lines((7, 1)), "reason": "x"}, "lines.0.sku", "invalid"),
        ({"lines": _lines(("MUG", 1, {"x": 1})), "reason": "x"}, "lines.0.x", "unknown_field"),
        ({"lines": MUG, "reason": ""}, "reason", "blank"),
        ({"lines": MUG, "reason": "x" * 501}, "reason", "max_length"),
        ({"lines": MUG, "reason": "x", "restock": True}, "restock", "unknown_field"),
        ({"lines": _lines(("TEA", 1)), "reason": "x"}, "lines.0.sku", "not_on_order"),
        ({"lines": _lines(("MUG", 2)), "reason": "x"}, "lines.0.quantity", "exceeds_returnable"),
        ({"lines": MUG + MUG, "reason": "x"}, "lines.1.sku", "duplicate"),
    ],
)
def test_bad_input_is_a_problem_and_changes_nothing(api, shop, products, payload, attr, code):
    order = _delivered(shop)

    response = api.post(_url(order), payload, format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert (attr, code) in [(e["attr"], e["code"]) for e in body["errors"]], body
    assert _nothing_written() == (0, 0, 0)


@pytest.mark.parametrize("body", [[], "lines", None])
def test_a_body_that_is_not_an_object_is_a_problem(api, shop, products, body):
    order = _delivered(shop)

    response = api.post(_url(order), body, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert _nothing_written() == (0, 0, 0)


def test_an_order_that_has_not_shipped_is_a_conflict(api, shop, products):
    order = order_in(shop, "confirmed", lines={"MUG": 1})

    response = api.post(
        _url(order), {"lines": [{"sku": "MUG", "quantity": 1}], "reason": "x"}, format="json"
    )

    body = assert_problem(response, status=409, type_slug="return-not-allowed")
    assert body["detail"] == (
        f"Order {order.number} is confirmed; only an order that has shipped (all or part "
        "of it) or been delivered can have a return."
    )
    assert body["order_status"] == "confirmed"
    assert _nothing_written() == (0, 0, 0)


def test_another_shops_order_and_a_bad_id_are_not_found(api, shop, products, other_shop):
    order = _delivered(shop)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(other_shop)}")
    body = {"lines": [{"sku": "MUG", "quantity": 1}], "reason": "x"}

    for url in (_url(order), f"/api/v1/orders/{uuid.uuid4()}/returns", "/api/v1/orders/x/returns"):
        assert_problem(api.post(url, body, format="json"), status=404, type_slug="not-found")
        assert_problem(api.get(url), status=404, type_slug="not-found")
    assert _nothing_written() == (0, 0, 0)


def test_no_key_no_return(shop, products, client):
    order = _delivered(shop)

    response = client.post(
        _url(order),
        {"lines": [{"sku": "MUG", "quantity": 1}], "reason": "x"},
        content_type="application/json",
    )

    assert_problem(response, status=401, type_slug="not-authenticated")
    assert _nothing_written() == (0, 0, 0)
