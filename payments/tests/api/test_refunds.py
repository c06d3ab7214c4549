"""POST and GET /api/v1/orders/{id}/refunds: part or the rest of a captured payment back."""

import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from orderflow.models import OutboxEvent
from orders import services as order_services
from orders.models import Product
from orders.tests.assertions import assert_problem
from payments.gateway import SimulatedGateway
from payments.models import Payment, PaymentAttempt, Refund
from testkit.factories import STAFF, api_key_for
from testkit.payments import confirmed_order, reserved_order

pytestmark = pytest.mark.django_db


def _url(order) -> str:
    return f"/api/v1/orders/{order.pk}/refunds"


def _state(order) -> tuple:
    payment = Payment.objects.get(order_id=order.pk)
    return (
        payment.status,
        payment.refunded_amount,
        Refund.objects.count(),
        OutboxEvent.objects.filter(type="payment.refunded").count(),
    )


def test_refunds_an_amount(api, shop, products):
    order, payment = confirmed_order(shop)

    response = api.post(_url(order), {"amount": "10.00", "reason": "late"}, format="json")

    assert response.status_code == 201, response.content
    refund = Refund.objects.get()
    body = response.json()
    assert body == {
        "id": str(refund.pk),
        "amount": "10.00",
        "currency": "EUR",
        "status": "succeeded",
        "reason": "late",
        "lines": [],
        "restock": False,
        # the order was not invoiced yet: the refund invoiced it (-000001) first
        "credit_note": f"{timezone.now().year}-000002",
        "created_at": body["created_at"],
    }
    assert _state(order) == ("partially_refunded", Decimal("10.00"), 1, 1)
    key = f"order-{order.pk}-refund-1"
    assert refund.idempotency_key == key
    assert SimulatedGateway.effects("refund", key) == 1
    assert PaymentAttempt.objects.filter(operation="refund").count() == 1
    event = OutboxEvent.objects.get(type="payment.refunded")
    assert event.data == {
        "payment_id": str(payment.pk),
        "refund_id": str(refund.pk),
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "amount": "10.00",
        "currency": "EUR",
        "reason": "late",
        "order_number": order.number,
        "on_request": True,
        "credit_note": body["credit_note"],
        "restocked": False,
    }


def test_refunds_lines_with_their_tax_and_the_rest_then_nothing_more(api, shop, products):
    order, _ = confirmed_order(shop)  # 2 x COFFEE-1KG 24.90 + MUG 9.90, taxes included

    mug = api.post(_url(order), {"lines": [{"sku": "MUG", "quantity": 1}]}, format="json")
    coffee = api.post(_url(order), {"lines": [{"sku": "COFFEE-1KG", "quantity": 1}]}, format="json")

    assert (mug.status_code, coffee.status_code) == (201, 201), (mug.content, coffee.content)
    assert (mug.json()["amount"], mug.json()["lines"]) == (
        "9.90",
        [{"sku": "MUG", "quantity": 1}],
    )
    assert coffee.json()["amount"] == "24.90"
    assert _state(order) == ("partially_refunded", Decimal("34.80"), 2, 2)

    # the mug was given back already: not twice
    again = api.post(_url(order), {"lines": [{"sku": "MUG", "quantity": 1}]}, format="json")
    body = assert_problem(again, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [
        ("lines.0.quantity", "exceeds_ordered")
    ]

    rest = api.post(_url(order), {"amount": "24.90"}, format="json")
    assert rest.status_code == 201, rest.content
    assert _state(order) == ("refunded", Decimal("59.70"), 3, 3)

    after = api.post(_url(order), {"amount": "0.01"}, format="json")
    assert_problem(after, status=409, type_slug="invalid-transition")
    assert _state(order) == ("refunded", Decimal("59.70"), 3, 3)

    listed = api.get(_url(order))
    assert listed.status_code == 200
    assert [r["amount"] for r in listed.json()] == ["24.90", "24.90", "9.90"]


def test_more_than_is_left_is_refused_and_changes_nothing(api, shop, products):
    order, _ = confirmed_order(shop)
    api.post(_url(order), {"amount": "50.00"}, format="json")

    response = api.post(_url(order), {"amount": "9.71"}, format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [("amount", "exceeds_refundable")]
    assert "9.70 EUR of 59.70 captured" in body["detail"]
    assert _state(order) == ("partially_refunded", Decimal("50.00"), 1, 1)


@pytest.mark.parametrize(
    ("payload", "attr", "code"),
    [
        ({}, "amount", "invalid"),
        ({"amount": "1.00", "lines": [{"sku": "MUG", "quantity": 1}]}, "amount", "invalid"),
        ({"amount": "0.00"}, "amount", "min_value"),
        ({"amount": "-1"}, "amount", "min_value"),
        ({"amount": "1.001"}, "amount", "max_decimal_places"),
        ({"amount": "lots"}, "amount", "invalid"),
        ({"lines": []}, "lines", "min_length"),
        ({"lines": [{"sku": "MUG"}]}, "lines.0.quantity", "required"),
        ({"lines": [{"sku": "MUG", "quantity": 0}]}, "lines.0.quantity", "min_value"),
        ({"lines": [{"sku": "MUG", "quantity": 1, "x": 1}]}, "lines.0.x", "unknown_field"),
        ({"lines": [{"sku": "TEA", "quantity": 1}]}, "lines.0.sku", "not_on_order"),
        ({"lines": [{"sku": "COFFEE-1KG", "quantity": 3}]}, "lines.0.quantity", "exceeds_ordered"),
        (
            {"lines": [{"sku": "MUG", "quantity": 1}, {"sku": "MUG", "quantity": 1}]},
            "lines.1.sku",
            "duplicate",
        ),
        ({"amount": "1.00", "restock": "yes", "colour": "red"}, "colour", "unknown_field"),
        ({"amount": "1.00", "restock": "yes"}, "restock", "invalid"),
        ({"amount": "1.00", "restock": 1}, "restock", "invalid"),
        ({"amount": "1.00", "restock": True}, "restock", "invalid"),
        ({"lines": [{"sku": "MUG", "quantity": 1}], "restock": True}, "restock", "not_shipped"),
        ({"amount": "1.00", "reason": "x" * 501}, "reason", "max_length"),
    ],
)
def test_bad_input_is_a_problem_and_changes_nothing(api, shop, products, payload, attr, code):
    order, _ = confirmed_order(shop)

    response = api.post(_url(order), payload, format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert (attr, code) in [(e["attr"], e["code"]) for e in body["errors"]], body
    assert _state(order) == ("captured", Decimal("0.00"), 0, 0)


def test_an_order_not_paid_yet_has_nothing_to_refund(api, shop, products):
    order = reserved_order(shop)

    response = api.post(_url(order), {"amount": "1.00"}, format="json")

    body = assert_problem(response, status=409, type_slug="invalid-transition")
    assert "no captured payment" in body["detail"]
    assert not Refund.objects.exists()


def test_another_shops_order_and_a_bad_id_are_not_found(api, shop, products, other_shop):
    order, _ = confirmed_order(shop)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(other_shop)}")

    for url in (_url(order), f"/api/v1/orders/{uuid.uuid4()}/refunds", "/api/v1/orders/x/refunds"):
        assert_problem(
            api.post(url, {"amount": "1.00"}, format="json"), status=404, type_slug="not-found"
        )
        assert_problem(api.get(url), status=404, type_slug="not-found")
    assert _state(order) == ("captured", Decimal("0.00"), 0, 0)


def test_no_key_no_refund(shop, products, client):
    order, _ = confirmed_order(shop)

    response = client.post(_url(order), {"amount": "1.00"}, content_type="application/json")

    assert_problem(response, status=401, type_slug="not-authenticated")
    assert not Refund.objects.exists()


def test_refunds_shipped_lines_and_restocks_them(api, shop, products):
    order, _ = confirmed_order(shop)
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number="JD9"
    )

    response = api.post(
        _url(order),
        {"lines": [{"sku": "MUG", "quantity": 1}], "reason": "broken", "restock": True},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    refund = Refund.objects.get()
    assert (body["amount"], body["restock"], body["lines"]) == (
        "9.90",
        True,
        [{"sku": "MUG", "quantity": 1}],
    )
    assert body["credit_note"] == refund.credit_note.number
    assert Product.objects.get(sku="MUG").on_hand == 20  # 19 after shipping, 1 back
    restocked = OutboxEvent.objects.get(type="stock.restocked")
    assert restocked.data["key"] == f"refund:{refund.pk}"
    assert restocked.data["actor"].startswith("shop-key:")
    listed = api.get(_url(order)).json()
    assert [(r["credit_note"], r["restock"]) for r in listed] == [(body["credit_note"], True)]
