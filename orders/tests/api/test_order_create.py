import pytest

from orderflow.models import IdempotencyKey, OutboxEvent
from orders.models import Order, OrderLine
from orders.services import intake
from testkit.factories import ProductFactory, order_for

from ..assertions import assert_problem, row_counts

pytestmark = pytest.mark.django_db


def test_places_order_priced_from_catalog(api, products, order_body):
    body = order_body(
        lines=[{"sku": "COFFEE-1KG", "quantity": 2}, {"sku": "MUG", "quantity": 1}],
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


@pytest.mark.parametrize("lean_on", [False, True])
def test_answers_the_whole_order(api, products, order_body, settings, lean_on):
    settings.ORDER_INTAKE_LEAN = lean_on
    response = api.post("/api/v1/orders", order_body(), format="json")

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert response.json() == {
        "id": str(order.id),
        "number": order.number,
        "external_reference": "",
        "status": "placed",
        "status_reason": "",
        "currency": "EUR",
        "prices_include_tax": True,
        "subtotal": "49.80",
        "discount_total": "0.00",
        "discounts": [],
        "shipping_method": "",
        "shipping_total": "0.00",
        "tax_total": "0.00",
        "total": "49.80",
        "payment_mode": "charge",
        "payment_status": "pending",
        "refunded_total": "0.00",
        "customer": {"name": "Ana Souza", "email": "ana@example.com", "locale": "en"},
        "shipping_address": {
            "line1": "Rua A 1",
            "city": "São Paulo",
            "postal_code": "01000-000",
            "country": "BR",
        },
        "lines": [
            {
                "sku": "COFFEE-1KG",
                "name": products["COFFEE-1KG"].name,
                "unit_price": "24.90",
                "quantity": 2,
                "discount_amount": "0.00",
                "line_total": "49.80",
                "tax_rate": "0.0000",
                "tax_amount": "0.00",
            }
        ],
        "allowed_actions": ["cancel"],
        "carrier": "",
        "tracking_number": "",
        "shipments": [],
        "tracking_url": f"/track/{order.tracking_token}",
        "metadata": {},
        "created_at": order.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": order.updated_at.isoformat().replace("+00:00", "Z"),
    }
    assert order.shop_id == products["COFFEE-1KG"].shop_id
    assert order.payment_token == "tok_ok"


def test_rejects_prices_totals_and_status_sent_by_the_client_naming_each(api, products, order_body):
    """Fields the API never reads were once dropped silently; each is now named (like Stripe)."""
    body = order_body(
        lines=[{"sku": "MUG", "quantity": 3, "unit_price": "0.01", "line_total": "0.03"}],
        subtotal="0.03",
        total="0.03",
        status="delivered",
    )
    before = row_counts()

    response = api.post("/api/v1/orders", body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    # the body's own unknown fields first, then those of its nested objects
    assert problem["errors"] == [
        {"attr": "subtotal", "code": "unknown_field", "detail": "Unknown field 'subtotal'."},
        {"attr": "total", "code": "unknown_field", "detail": "Unknown field 'total'."},
        {"attr": "status", "code": "unknown_field", "detail": "Unknown field 'status'."},
        {
            "attr": "lines.0.unit_price",
            "code": "unknown_field",
            "detail": "Unknown field 'unit_price'.",
        },
        {
            "attr": "lines.0.line_total",
            "code": "unknown_field",
            "detail": "Unknown field 'line_total'.",
        },
    ]
    assert row_counts() == before


def test_names_unknown_fields_of_nested_objects_beside_other_errors(api, products, order_body):
    body = order_body(
        customer={"name": "Ana", "email": "not-an-email", "nickname": "Aninha"},
        shipping_address={
            "line1": "Rua A 1",
            "city": "São Paulo",
            "postal_code": "01000-000",
            "country": "BR",
            "zip": "01000",
        },
        payment={"token": "tok_ok", "card_number": "4242"},
    )
    before = row_counts()

    response = api.post("/api/v1/orders", body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [
        ("customer.email", "invalid"),
        ("customer.nickname", "unknown_field"),
        ("shipping_address.zip", "unknown_field"),
        ("payment.card_number", "unknown_field"),
    ]
    assert row_counts() == before


def test_stores_the_correlation_id_of_the_request_on_the_event(api, products, order_body):
    response = api.post(
        "/api/v1/orders", order_body(), format="json", HTTP_X_CORRELATION_ID="shop-req-42"
    )

    assert response.status_code == 201, response.content
    assert response["X-Correlation-ID"] == "shop-req-42"
    assert OutboxEvent.objects.get().correlation_id == "shop-req-42"


def test_stores_a_generated_correlation_id_on_the_event_when_none_is_sent(
    api, products, order_body
):
    response = api.post("/api/v1/orders", order_body(), format="json")

    assert response.status_code == 201, response.content
    assert OutboxEvent.objects.get().correlation_id == response["X-Correlation-ID"]


# --- bad input: each is a 400 validation problem and writes nothing --------------------------


def _lines(n: int) -> list[dict]:
    return [{"sku": f"BULK-{i}", "quantity": 1} for i in range(n)]


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        pytest.param(
            {"lines": []},
            [
                {
                    "attr": "lines",
                    "code": "min_length",
                    "detail": "Ensure this field has at least 1 elements.",
                }
            ],
            id="no-lines",
        ),
        pytest.param(
            {"lines": _lines(101)},
            [
                {
                    "attr": "lines",
                    "code": "max_length",
                    "detail": "Ensure this field has no more than 100 elements.",
                }
            ],
            id="101-lines",
        ),
        pytest.param(
            {"lines": [{"sku": "MUG", "quantity": 0}]},
            [
                {
                    "attr": "lines.0.quantity",
                    "code": "min_value",
                    "detail": "Ensure this value is greater than or equal to 1.",
                }
            ],
            id="quantity-zero",
        ),
        pytest.param(
            {"lines": [{"sku": "MUG", "quantity": -3}]},
            [
                {
                    "attr": "lines.0.quantity",
                    "code": "min_value",
                    "detail": "Ensure this value is greater than or equal to 1.",
                }
            ],
            id="quantity-negative",
        ),
        pytest.param(
            {"lines": [{"sku": "MUG", "quantity": 1}, {"sku": "FILTER", "quantity": 10_001}]},
            [
                {
                    "attr": "lines.1.quantity",
                    "code": "max_value",
                    "detail": "Ensure this value is less than or equal to 10000.",
                }
            ],
            id="quantity-over-10000",
        ),
        pytest.param(
            {"lines": [{"sku": "MUG", "quantity": 1.5}]},
            [
                {
                    "attr": "lines.0.quantity",
                    "code": "invalid",
                    "detail": "A valid integer is required.",
                }
            ],
            id="quantity-fraction",
        ),
        pytest.param(
            {"lines": [{"quantity": 1}]},
            [{"attr": "lines.0.sku", "code": "required", "detail": "This field is required."}],
            id="sku-missing",
        ),
        pytest.param(
            {"customer": {"name": "Ana Souza", "email": "ana-at-example.com"}},
            [
                {
                    "attr": "customer.email",
                    "code": "invalid",
                    "detail": "Enter a valid email address.",
                }
            ],
            id="invalid-email",
        ),
        pytest.param(
            {"customer": {"name": "", "email": "ana@example.com"}},
            [{"attr": "customer.name", "code": "blank", "detail": "This field may not be blank."}],
            id="blank-name",
        ),
        pytest.param(
            {
                "shipping_address": {
                    "line1": "Rua A 1",
                    "city": "São Paulo",
                    "postal_code": "01000-000",
                    "country": "br",
                }
            },
            [
                {
                    "attr": "shipping_address.country",
                    "code": "invalid",
                    "detail": "Use an ISO 3166 code, e.g. BR.",
                }
            ],
            id="country-not-iso",
        ),
        pytest.param(
            {"payment": {}},
            [
                {
                    "attr": "payment",
                    "code": "payment_required",
                    "detail": "Send a token (OrderFlow charges it), or external_reference and "
                    "amount (the shop was paid at its checkout).",
                }
            ],
            id="payment-token-missing",
        ),
        pytest.param(
            {"payment": {"token": "tok_ok", "external_reference": "pi_1", "amount": "49.80"}},
            [
                {
                    "attr": "payment",
                    "code": "payment_modes",
                    "detail": "Send either a token, or external_reference and amount, not both.",
                }
            ],
            id="payment-both-modes",
        ),
        pytest.param(
            {"payment": {"external_reference": "pi_1", "amount": 49.8}},
            [
                {
                    "attr": "payment.amount",
                    "code": "not_plain",
                    "detail": "Send the price as a string of digits with up to 2 decimals, "
                    'e.g. "9.90".',
                }
            ],
            id="payment-amount-a-number",
        ),
    ],
)
def test_rejects_invalid_order_and_writes_nothing(api, products, order_body, overrides, errors):
    before = row_counts()

    response = api.post("/api/v1/orders", order_body(**overrides), format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == errors
    assert body["detail"] == f"{errors[0]['attr']}: {errors[0]['detail']}"
    assert row_counts() == before


def test_rejects_a_body_that_is_not_an_object(api, products):
    before = row_counts()

    response = api.post("/api/v1/orders", [{"sku": "MUG"}], format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {
            "attr": "non_field_errors",
            "code": "invalid",
            "detail": "Invalid data. Expected a dictionary, but got list.",
        }
    ]
    assert row_counts() == before


def test_lists_every_missing_field(api, products):
    before = row_counts()

    response = api.post("/api/v1/orders", {}, format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [
        ("customer", "required"),
        ("shipping_address", "required"),
        ("lines", "required"),
        ("payment", "required"),
    ]
    assert body["detail"] == "customer: This field is required. (and 3 more)"
    assert row_counts() == before


def test_rejects_unknown_sku_naming_it(api, products, order_body):
    before = row_counts()

    response = api.post(
        "/api/v1/orders",
        order_body(lines=[{"sku": "MUG", "quantity": 1}, {"sku": "TEAPOT", "quantity": 1}]),
        format="json",
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {
            "attr": "lines.1.sku",
            "code": "unknown_sku",
            "detail": "Unknown SKU 'TEAPOT': it is not in this shop's catalog.",
        }
    ]
    assert "TEAPOT" in body["detail"]
    assert row_counts() == before


def test_rejects_another_shops_sku_as_unknown(api, products, other_shop, order_body):
    ProductFactory(shop=other_shop, sku="THEIR-SKU", price="1.00")
    before = row_counts()

    response = api.post(
        "/api/v1/orders", order_body(lines=[{"sku": "THEIR-SKU", "quantity": 1}]), format="json"
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {
            "attr": "lines.0.sku",
            "code": "unknown_sku",
            "detail": "Unknown SKU 'THEIR-SKU': it is not in this shop's catalog.",
        }
    ]
    assert "THEIR-SKU" in body["detail"]
    assert row_counts() == before


def test_rejects_the_same_sku_twice(api, products, order_body):
    before = row_counts()

    response = api.post(
        "/api/v1/orders",
        order_body(lines=[{"sku": "MUG", "quantity": 1}, {"sku": "MUG", "quantity": 2}]),
        format="json",
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {
            "attr": "lines.1.sku",
            "code": "duplicate_sku",
            "detail": "SKU 'MUG' is already on line 0; send one line per SKU with the total "
            "quantity.",
        }
    ]
    assert row_counts() == before


def test_accepts_100_lines(api, shop, order_body):
    for i in range(100):
        ProductFactory(shop=shop, sku=f"BULK-{i}", price="1.00")

    response = api.post("/api/v1/orders", order_body(lines=_lines(100)), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["total"] == "100.00"
    assert OrderLine.objects.count() == 100


def test_accepts_quantity_10000(api, products, order_body):
    response = api.post(
        "/api/v1/orders", order_body(lines=[{"sku": "FILTER", "quantity": 10_000}]), format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["total"] == "35000.00"


# --- totals: bounded to what the columns hold (numeric(14,2)) ---------------------------------

TOP_PRICE = "9999999999.99"  # the largest price a product may have (numeric(12,2))


def test_accepts_a_line_total_up_to_the_column_maximum(api, shop, order_body):
    ProductFactory(shop=shop, sku="GOLD", price=TOP_PRICE)

    response = api.post(
        "/api/v1/orders", order_body(lines=[{"sku": "GOLD", "quantity": 100}]), format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["total"] == "999999999999.00"


def test_rejects_a_line_total_over_the_column_naming_the_quantity(api, shop, order_body):
    ProductFactory(shop=shop, sku="GOLD", price=TOP_PRICE)
    before = row_counts()

    response = api.post(
        "/api/v1/orders", order_body(lines=[{"sku": "GOLD", "quantity": 10_000}]), format="json"
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {
            "attr": "lines.0.quantity",
            "code": "line_total_too_large",
            "detail": "10000 of 'GOLD' at 9999999999.99 come to 99999999999900.00; "
            "a line totals at most 999999999999.99.",
        }
    ]
    assert row_counts() == before


def test_rejects_an_order_total_over_the_column_naming_the_lines(api, shop, order_body):
    ProductFactory(shop=shop, sku="GOLD", price=TOP_PRICE)
    ProductFactory(shop=shop, sku="SILVER", price=TOP_PRICE)
    before = row_counts()
    lines = [{"sku": "GOLD", "quantity": 100}, {"sku": "SILVER", "quantity": 1}]

    response = api.post("/api/v1/orders", order_body(lines=lines), format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {
            "attr": "lines",
            "code": "order_total_too_large",
            "detail": "The order comes to 1009999999998.99; an order totals at most "
            "999999999999.99.",
        }
    ]
    assert row_counts() == before


# --- order numbers: random, so a collision is retried with a new one ---------------------------


@pytest.mark.parametrize("headers", [{}, {"HTTP_IDEMPOTENCY_KEY": "collide-1"}])
def test_an_order_number_collision_is_retried_with_a_new_number(
    api, shop, products, order_body, monkeypatch, headers
):
    taken = order_for(shop).number
    drawn = iter([taken, taken, "OF-FRESH001"])
    monkeypatch.setattr(intake, "_new_number", lambda: next(drawn))

    response = api.post("/api/v1/orders", order_body(), format="json", **headers)

    assert response.status_code == 201, response.content
    assert response.json()["number"] == "OF-FRESH001"
    assert sorted(Order.objects.values_list("number", flat=True)) == sorted([taken, "OF-FRESH001"])
    placed = OutboxEvent.objects.filter(type="order.placed")
    assert sorted(e.data["number"] for e in placed) == sorted([taken, "OF-FRESH001"])


def test_another_shops_order_number_is_no_collision(
    api, shop, other_shop, products, order_body, monkeypatch
):
    ProductFactory(shop=other_shop, sku="MUG")
    theirs = order_for(other_shop, lines={"MUG": 1}).number
    monkeypatch.setattr(intake, "_new_number", lambda: theirs)

    response = api.post("/api/v1/orders", order_body(), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["number"] == theirs
