"""Orders priced with the shop's settings: tax per line, shipping, discount codes, payment modes.

Every case runs on both intake paths (the lean one, and the DRF view it hands over to).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orderflow.models import OutboxEvent
from orders.models import Discount, DiscountRedemption, Order, ShippingMethod, TaxRate
from payments.models import Invoice
from payments.services import invoice_issue

from ..assertions import assert_problem, row_counts

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[True, False], ids=["lean", "drf"])
def intake(request, settings):
    settings.ORDER_INTAKE_LEAN = request.param
    return request.param


@pytest.fixture
def taxed(shop, products):
    """Coffee at a reduced 5.5 % in BR, the rest at the shop's standard 20 %."""
    shop.tax_rate = Decimal("0.2")
    shop.save(update_fields=["tax_rate"])
    TaxRate.objects.create(shop=shop, tax_class="reduced", country="BR", rate=Decimal("0.055"))
    products["COFFEE-1KG"].tax_class = "reduced"
    products["COFFEE-1KG"].weight_grams = 1000
    products["COFFEE-1KG"].save()
    products["MUG"].weight_grams = 400
    products["MUG"].save()
    return products


def _lines(data):
    return {
        line["sku"]: (
            line["discount_amount"],
            line["line_total"],
            line["tax_rate"],
            line["tax_amount"],
        )
        for line in data["lines"]
    }


def test_each_line_is_taxed_at_its_own_rate(api, taxed, order_body, intake):
    body = order_body(lines=[{"sku": "COFFEE-1KG", "quantity": 2}, {"sku": "MUG", "quantity": 1}])

    response = api.post("/api/v1/orders", body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    # 49.80 x 0.055 / 1.055 = 2.60 (2.5962); 9.90 x 0.2 / 1.2 = 1.65
    assert _lines(data) == {
        "COFFEE-1KG": ("0.00", "49.80", "0.0550", "2.60"),
        "MUG": ("0.00", "9.90", "0.2000", "1.65"),
    }
    assert (data["subtotal"], data["tax_total"], data["total"]) == ("59.70", "4.25", "59.70")
    order = Order.objects.get()
    assert (order.tax_total, order.total) == (Decimal("4.25"), Decimal("59.70"))
    placed = OutboxEvent.objects.get(type="order.placed").data
    assert (placed["tax_total"], placed["total"]) == ("4.25", "59.70")
    assert [(line["tax_rate"], line["tax_amount"]) for line in placed["lines"]] == [
        ("0.0550", "2.60"),
        ("0.2000", "1.65"),
    ]


def test_the_invoice_breaks_tax_down_per_rate(api, taxed, order_body, intake):
    body = order_body(lines=[{"sku": "COFFEE-1KG", "quantity": 2}, {"sku": "MUG", "quantity": 1}])
    order_id = api.post("/api/v1/orders", body, format="json").json()["id"]

    invoice_issue(order_id=order_id)

    invoice = Invoice.objects.get()
    assert invoice.taxes == [
        {"rate": "0.0550", "net": "47.20", "tax": "2.60"},
        {"rate": "0.2000", "net": "8.25", "tax": "1.65"},
    ]
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.tax_rate) == (
        Decimal("55.45"),
        Decimal("4.25"),
        Decimal("59.70"),
        None,
    )


def test_a_shop_with_net_prices_adds_tax(api, shop, taxed, order_body, intake):
    shop.prices_include_tax = False
    shop.save(update_fields=["prices_include_tax"])

    response = api.post("/api/v1/orders", order_body(), format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["prices_include_tax"] is False
    # 49.80 + 2.74 (49.80 x 0.055 = 2.739)
    assert (data["subtotal"], data["tax_total"], data["total"]) == ("49.80", "2.74", "52.54")


def test_a_class_without_a_rate_in_the_destination_is_named(api, shop, taxed, order_body, intake):
    body = order_body(shipping_address={**order_body()["shipping_address"], "country": "PT"})
    before = row_counts()

    response = api.post("/api/v1/orders", body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert problem["errors"] == [
        {
            "attr": "lines.0.sku",
            "code": "tax_rate_missing",
            "detail": "The shop has no tax rate for class 'reduced' in PT: add one to its tax "
            "rates.",
        }
    ]
    assert row_counts() == before


# --- shipping ----------------------------------------------------------------------------------
@pytest.fixture
def methods(shop):
    return {
        "flat": ShippingMethod.objects.create(
            shop=shop,
            code="flat",
            name="Correios PAC",
            price=Decimal("12.00"),
            countries=["BR"],
            free_above=Decimal("100.00"),
        ),
        "weight": ShippingMethod.objects.create(
            shop=shop,
            code="weight",
            name="Courier",
            kind="weight",
            weight_bands=[
                {"up_to_grams": 1000, "price": "9.00"},
                {"up_to_grams": 5000, "price": "19.00"},
            ],
        ),
    }


def test_a_flat_method_is_charged_and_taxed(api, taxed, methods, order_body, intake):
    response = api.post("/api/v1/orders", order_body(shipping_method="flat"), format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    # shipping at the standard 20 %, included: 12.00 x 0.2 / 1.2 = 2.00
    assert (data["shipping_method"], data["shipping_total"]) == ("flat", "12.00")
    assert (data["tax_total"], data["total"]) == ("4.60", "61.80")
    order = Order.objects.get()
    assert (order.shipping_method_name, order.shipping_tax) == ("Correios PAC", Decimal("2.00"))


def test_free_above_a_subtotal(api, taxed, methods, order_body, intake):
    body = order_body(shipping_method="flat", lines=[{"sku": "COFFEE-1KG", "quantity": 5}])

    data = api.post("/api/v1/orders", body, format="json").json()

    assert (data["shipping_total"], data["total"]) == ("0.00", "124.50")


def test_weight_bands_price_by_the_orders_weight(api, taxed, methods, order_body, intake):
    body = order_body(
        shipping_method="weight",
        lines=[{"sku": "COFFEE-1KG", "quantity": 2}, {"sku": "MUG", "quantity": 1}],
    )

    data = api.post("/api/v1/orders", body, format="json").json()

    assert data["shipping_total"] == "19.00"  # 2 400 g: the second band


def test_an_order_naming_no_method_ships_by_the_shops_default(
    api, taxed, methods, order_body, intake
):
    ShippingMethod.objects.filter(code="weight").update(is_default=True)
    body = order_body(lines=[{"sku": "COFFEE-1KG", "quantity": 2}, {"sku": "MUG", "quantity": 1}])

    response = api.post("/api/v1/orders", body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    # 2 400 g: the second band, 19.00, taxed at 20 %: 3.17; the lines' tax 4.25
    assert (data["shipping_method"], data["shipping_total"]) == ("weight", "19.00")
    assert (data["tax_total"], data["total"]) == ("7.42", "78.70")
    order = Order.objects.get()
    assert (order.shipping_method, order.shipping_method_name) == ("weight", "Courier")
    # a method named still wins over the default
    named = api.post("/api/v1/orders", order_body(shipping_method="flat"), format="json")
    assert named.json()["shipping_method"] == "flat"


def test_an_inactive_default_is_no_default(api, taxed, methods, order_body, intake):
    ShippingMethod.objects.filter(code="weight").update(is_default=True, active=False)
    before = row_counts()

    response = api.post("/api/v1/orders", order_body(), format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [("shipping_method", "required")]
    assert row_counts() == before


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (
            {"shipping_method": "flat", "shipping_address": {"country": "PT"}},
            {
                "attr": "shipping_address.country",
                "code": "country_not_served",
                "detail": "Shipping method 'flat' does not ship to PT; it ships to BR.",
            },
        ),
        (
            {"shipping_method": "weight", "lines": [{"sku": "COFFEE-1KG", "quantity": 6}]},
            {
                "attr": "shipping_method",
                "code": "too_heavy",
                "detail": "The order weighs 6000 g; shipping method 'weight' takes at most 5000 g.",
            },
        ),
        (
            {"shipping_method": "drone"},
            {
                "attr": "shipping_method",
                "code": "unknown_shipping_method",
                "detail": "Unknown shipping method 'drone': it is not an active method of this "
                "shop.",
            },
        ),
        (
            {},
            {
                "attr": "shipping_method",
                "code": "required",
                "detail": "This shop ships with shipping methods: name one (GET "
                "/api/v1/shipping-methods lists them).",
            },
        ),
    ],
    ids=["country-not-served", "too-heavy", "unknown", "missing"],
)
def test_a_shipping_method_that_cannot_serve_the_order_is_named(
    api, taxed, methods, order_body, intake, overrides, error
):
    overrides = dict(overrides)  # the parameters are shared by both intake paths
    address = {**order_body()["shipping_address"], **overrides.pop("shipping_address", {})}
    TaxRate.objects.create(shop=methods["flat"].shop, tax_class="reduced", rate=Decimal("0.1"))
    before = row_counts()

    response = api.post(
        "/api/v1/orders", order_body(shipping_address=address, **overrides), format="json"
    )

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert problem["errors"] == [error]
    assert row_counts() == before


def test_another_shops_method_is_unknown(api, other_shop, products, order_body, intake):
    ShippingMethod.objects.create(shop=other_shop, code="theirs", name="Theirs", price=1)

    response = api.post("/api/v1/orders", order_body(shipping_method="theirs"), format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert problem["errors"][0]["code"] == "unknown_shipping_method"


# --- discount codes -------------------------------------------------------------------------------
def _code(shop, code="SAVE10", **fields):
    values = {"kind": "percentage", "value": Decimal("10")}
    values.update(fields)
    return Discount.objects.create(shop=shop, code=code, **values)


def test_a_percentage_code_on_given_skus(api, shop, products, order_body, intake):
    _code(shop, skus=["MUG"])
    body = order_body(
        discount_codes=["save10"],
        lines=[{"sku": "COFFEE-1KG", "quantity": 2}, {"sku": "MUG", "quantity": 1}],
    )

    response = api.post("/api/v1/orders", body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert _lines(data)["MUG"][:2] == ("0.99", "8.91")
    assert _lines(data)["COFFEE-1KG"][:2] == ("0.00", "49.80")
    assert (data["discount_total"], data["total"]) == ("0.99", "58.71")
    assert data["discounts"] == [{"code": "SAVE10", "amount": "0.99"}]
    discount = Discount.objects.get()
    assert discount.uses == 1
    redemption = DiscountRedemption.objects.get()
    assert (redemption.order_id, redemption.customer_email, redemption.amount) == (
        Order.objects.get().pk,
        "ana@example.com",
        Decimal("0.99"),
    )
    assert OutboxEvent.objects.get(type="order.placed").data["discount_codes"] == ["SAVE10"]


def test_a_fixed_code_on_the_order(api, shop, products, order_body, intake):
    _code(shop, code="FIVE", kind="fixed", value=Decimal("5.00"), min_subtotal=Decimal("40"))

    data = api.post("/api/v1/orders", order_body(discount_codes=["FIVE"]), format="json").json()

    assert (data["discount_total"], data["total"]) == ("5.00", "44.80")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"active": False}, "unknown_discount"),
        ({"starts_at": timezone.now() + timedelta(days=1)}, "discount_not_started"),
        ({"ends_at": timezone.now() - timedelta(seconds=1)}, "discount_expired"),
        ({"min_subtotal": Decimal("50.00")}, "discount_minimum_not_met"),
        ({"skus": ["FILTER"]}, "discount_not_applicable"),
        ({"max_uses": 0}, "discount_exhausted"),
    ],
    ids=["inactive", "not-started", "expired", "minimum", "not-applicable", "used-up"],
)
def test_a_code_that_does_not_apply_is_named_and_nothing_is_placed(
    api, shop, products, order_body, intake, fields, code
):
    _code(shop, **fields)
    before = row_counts()

    response = api.post("/api/v1/orders", order_body(discount_codes=["SAVE10"]), format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [("discount_codes.0", code)]
    assert row_counts() == before
    assert Discount.objects.get().uses == 0


def test_an_unknown_or_repeated_code_is_named(api, shop, products, order_body, intake):
    _code(shop)

    response = api.post(
        "/api/v1/orders", order_body(discount_codes=["SAVE10", "save10", "NOPE"]), format="json"
    )

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [
        ("discount_codes.1", "duplicate_discount"),
        ("discount_codes.2", "unknown_discount"),
    ]


def test_once_per_customer(api, shop, products, order_body, intake):
    _code(shop, once_per_customer=True)
    first = api.post("/api/v1/orders", order_body(discount_codes=["SAVE10"]), format="json")
    assert first.status_code == 201, first.content
    before = row_counts()

    again = api.post(
        "/api/v1/orders",
        order_body(discount_codes=["SAVE10"], customer={"name": "Ana", "email": "ANA@example.com"}),
        format="json",
    )

    problem = assert_problem(again, status=409, type_slug="discount-already-used")
    assert problem["errors"] == [
        {
            "attr": "discount_codes.0",
            "code": "discount_already_used",
            "detail": "Discount code 'SAVE10' is once per customer, and this customer has used it.",
        }
    ]
    assert row_counts() == before
    assert Discount.objects.get().uses == 1
    other = api.post(
        "/api/v1/orders",
        order_body(discount_codes=["SAVE10"], customer={"name": "Bia", "email": "bia@example.com"}),
        format="json",
    )
    assert other.status_code == 201, other.content


def test_another_shops_code_is_unknown(api, other_shop, products, order_body, intake):
    _code(other_shop)

    response = api.post("/api/v1/orders", order_body(discount_codes=["SAVE10"]), format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert problem["errors"][0]["code"] == "unknown_discount"


# --- payment modes and the customer's language --------------------------------------------------
def test_an_order_paid_externally_records_the_reference(api, products, order_body, intake):
    body = order_body(payment={"external_reference": "pi_3NxY", "amount": "49.80"})

    response = api.post("/api/v1/orders", body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["payment_mode"] == "external"
    order = Order.objects.get()
    assert (order.payment_mode, order.payment_reference, order.payment_token) == (
        "external",
        "pi_3NxY",
        "",
    )
    assert OutboxEvent.objects.get(type="order.placed").data["payment_mode"] == "external"


def test_an_external_payment_of_another_amount_is_refused(api, products, order_body, intake):
    before = row_counts()

    response = api.post(
        "/api/v1/orders",
        order_body(payment={"external_reference": "pi_3NxY", "amount": "49.00"}),
        format="json",
    )

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert problem["errors"] == [
        {
            "attr": "payment.amount",
            "code": "amount_mismatch",
            "detail": "The order comes to 49.80; a payment taken elsewhere must be that amount, "
            "not 49.00.",
        }
    ]
    assert row_counts() == before


def test_a_shop_that_captures_on_shipment(api, shop, products, order_body, intake):
    shop.capture_on_shipment = True
    shop.save(update_fields=["capture_on_shipment"])

    data = api.post("/api/v1/orders", order_body(), format="json").json()

    assert (data["payment_mode"], data["payment_status"]) == ("capture_on_shipment", "pending")


def test_the_customers_language_defaults_to_the_shops(api, shop, products, order_body, intake):
    shop.language = "pt-BR"
    shop.save(update_fields=["language"])
    chosen = {"name": "Ann", "email": "ann@example.com", "locale": "en"}

    default = api.post("/api/v1/orders", order_body(), format="json").json()
    english = api.post("/api/v1/orders", order_body(customer=chosen), format="json").json()

    assert default["customer"]["locale"] == "pt-BR"
    assert english["customer"]["locale"] == "en"
    refused = api.post(
        "/api/v1/orders", order_body(customer={**chosen, "locale": "fr"}), format="json"
    )
    problem = assert_problem(refused, status=400, type_slug="validation-error")
    assert problem["errors"][0]["attr"] == "customer.locale"
