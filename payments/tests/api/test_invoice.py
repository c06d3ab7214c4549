"""GET /api/v1/orders/{id}/invoice: the shop's invoice of a confirmed order."""

import uuid

import pytest
from django.utils import timezone

from orders.tests.assertions import assert_problem
from payments.services import invoice_issue
from testkit.factories import ProductFactory
from testkit.payments import cancel, confirmed_order, reserved_order, settle_cancellation

pytestmark = pytest.mark.django_db

NO_INVOICE = "This order has no invoice (yet): it is issued on confirmation."


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_answers_the_whole_invoice(api, shop, products):
    order, _ = confirmed_order(shop)
    invoice = invoice_issue(order_id=order.pk)
    year = timezone.now().year

    response = api.get(f"/api/v1/orders/{order.pk}/invoice")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": str(invoice.pk),
        "number": f"{year}-000001",
        "kind": "invoice",
        "order_id": str(order.pk),
        "order_number": order.number,
        "seller": {
            "name": "Beans & Co",
            "legal_name": "Beans & Co Ltda",
            "email": shop.contact_email,
            "address": "Rua B 2\n01000-000 São Paulo",
            "tax_id": "BR12345678",
        },
        "buyer": {
            "name": "Ana Souza",
            "legal_name": "",
            "email": "ana@example.com",
            "address": "Rua A 1\n01000-000 São Paulo\nBR",
            "tax_id": "",
        },
        "lines": [
            {
                "sku": "COFFEE-1KG",
                "name": "Coffee 1 kg",
                "unit_price": "24.90",
                "quantity": 2,
                "discount_amount": "0.00",
                "line_total": "49.80",
                "tax_rate": "0.2000",
                "tax_amount": "8.30",
            },
            {
                "sku": "MUG",
                "name": "Mug",
                "unit_price": "9.90",
                "quantity": 1,
                "discount_amount": "0.00",
                "line_total": "9.90",
                "tax_rate": "0.2000",
                "tax_amount": "1.65",
            },
        ],
        "currency": "EUR",
        "discount_total": "0.00",
        "shipping_total": "0.00",
        "subtotal": "49.75",
        "tax_rate": "0.2000",
        "taxes": [{"rate": "0.2000", "net": "49.75", "tax": "9.95"}],
        "tax": "9.95",
        "total": "59.70",
        "issued_at": _iso(invoice.issued_at),
        "credit_note": None,
        "credit_notes": [],
    }


def test_names_the_credit_note_of_a_cancelled_order(api, shop, products):
    order, _ = confirmed_order(shop)
    invoice_issue(order_id=order.pk)
    cancel(order)
    credit_note = settle_cancellation(order)
    year = timezone.now().year

    response = api.get(f"/api/v1/orders/{order.pk}/invoice")

    assert response.status_code == 200, response.content
    assert response.json()["kind"] == "invoice"
    assert response.json()["credit_note"] == {
        "id": str(credit_note.pk),
        "number": f"{year}-000002",
        "subtotal": "-49.75",
        "tax": "-9.95",
        "total": "-59.70",
        "currency": "EUR",
        "issued_at": _iso(credit_note.issued_at),
        "refund_id": None,
    }
    assert response.json()["credit_notes"] == [response.json()["credit_note"]]


def test_an_order_not_confirmed_yet_has_no_invoice(api, shop, products):
    order = reserved_order(shop)

    response = api.get(f"/api/v1/orders/{order.pk}/invoice")

    body = assert_problem(response, status=404, type_slug="not-found")
    assert body["detail"] == NO_INVOICE


def test_another_shops_invoice_is_a_404(api, other_shop):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    ProductFactory(shop=other_shop, sku="MUG")
    theirs, _ = confirmed_order(other_shop)
    invoice_issue(order_id=theirs.pk)

    response = api.get(f"/api/v1/orders/{theirs.pk}/invoice")

    body = assert_problem(response, status=404, type_slug="not-found")
    assert body["detail"] == NO_INVOICE


@pytest.mark.parametrize("order_id", ["not-a-uuid", str(uuid.uuid4())])
def test_an_id_that_names_no_order_is_a_404(api, order_id):
    response = api.get(f"/api/v1/orders/{order_id}/invoice")

    assert_problem(response, status=404, type_slug="not-found")


def test_needs_an_api_key(client, shop, products):
    order, _ = confirmed_order(shop)
    invoice_issue(order_id=order.pk)

    response = client.get(f"/api/v1/orders/{order.pk}/invoice")

    assert_problem(response, status=401, type_slug="not-authenticated")


def test_costs_fixed_queries(api, shop, products, assert_statements):
    order, _ = confirmed_order(shop)
    invoice_issue(order_id=order.pk)
    api.get(f"/api/v1/orders/{order.pk}/invoice")  # warm-up: records the key's last use

    # key (a prepared statement, which Django's query log misses); the invoice; its credit
    # notes (however many)
    with assert_statements(3):
        response = api.get(f"/api/v1/orders/{order.pk}/invoice")

    assert response.status_code == 200
