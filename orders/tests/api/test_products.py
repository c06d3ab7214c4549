import base64
from decimal import Decimal

import pytest

from orders.models import Product
from testkit.factories import ProductFactory

from ..assertions import assert_problem, row_counts

pytestmark = pytest.mark.django_db


def _reserve(product: Product, units: int) -> Product:
    """Hold ``units`` for open orders, as the stock saga would."""
    Product.objects.filter(pk=product.pk).update(reserved=units)
    product.refresh_from_db()
    return product


# --- list -------------------------------------------------------------------------------------


def test_lists_the_shops_products_by_sku(api, products):
    _reserve(products["MUG"], 5)

    response = api.get("/api/v1/products")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [
            {
                "sku": "COFFEE-1KG",
                "name": products["COFFEE-1KG"].name,
                "price": "24.90",
                "currency": "EUR",
                "tax_class": "standard",
                "weight_grams": 0,
                "stock": 50,
                "reserved": 0,
                "available": 50,
            },
            {
                "sku": "FILTER",
                "name": products["FILTER"].name,
                "price": "3.50",
                "currency": "EUR",
                "tax_class": "standard",
                "weight_grams": 0,
                "stock": 1000,
                "reserved": 0,
                "available": 1000,
            },
            {
                "sku": "MUG",
                "name": products["MUG"].name,
                "price": "9.90",
                "currency": "EUR",
                "tax_class": "standard",
                "weight_grams": 0,
                "stock": 20,
                "reserved": 5,
                "available": 15,
            },
        ],
    }


def test_never_lists_another_shops_products(api, other_api, products, other_shop):
    ProductFactory(shop=other_shop, sku="THEIRS")

    mine = api.get("/api/v1/products")
    theirs = other_api.get("/api/v1/products")

    assert [p["sku"] for p in mine.json()["results"]] == ["COFFEE-1KG", "FILTER", "MUG"]
    assert [p["sku"] for p in theirs.json()["results"]] == ["THEIRS"]


def test_pages_through_products_with_a_cursor(api, products):
    first = api.get("/api/v1/products", {"limit": 2})
    second = api.get(first.json()["next"])

    assert [p["sku"] for p in first.json()["results"]] == ["COFFEE-1KG", "FILTER"]
    assert [p["sku"] for p in second.json()["results"]] == ["MUG"]
    assert second.json()["next"] is None


def test_a_product_cursor_with_nul_is_a_400_not_a_500(api, products):
    cursor = base64.b64encode(b"p=MUG%00").decode()

    response = api.get("/api/v1/products", {"cursor": cursor})

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert [e["attr"] for e in body["errors"]] == ["cursor"]


# --- create -----------------------------------------------------------------------------------


def test_creates_a_product(api, shop):
    response = api.post(
        "/api/v1/products",
        {"sku": "TEA-100G", "name": "Green tea, 100 g", "price": "8.50", "stock": 30},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json() == {
        "sku": "TEA-100G",
        "name": "Green tea, 100 g",
        "price": "8.50",
        "currency": "EUR",
        "tax_class": "standard",
        "weight_grams": 0,
        "stock": 30,
        "reserved": 0,
        "available": 30,
    }
    product = Product.objects.get()
    assert (product.shop_id, product.sku, product.price, product.on_hand, product.reserved) == (
        shop.id,
        "TEA-100G",
        Decimal("8.50"),
        30,
        0,
    )


def test_creates_a_sku_that_another_shop_also_uses(api, shop, other_shop):
    ProductFactory(shop=other_shop, sku="TEA-100G")

    response = api.post(
        "/api/v1/products", {"sku": "TEA-100G", "name": "Tea", "price": "8.50"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert Product.objects.filter(sku="TEA-100G").count() == 2
    assert Product.objects.get(shop=shop).on_hand == 0


def test_refuses_a_sku_the_shop_already_has(api, products):
    before = row_counts()

    response = api.post(
        "/api/v1/products", {"sku": "MUG", "name": "Another mug", "price": "1.00"}, format="json"
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [{"attr": "sku", "code": "unique", "detail": "SKU 'MUG' is taken."}]
    assert body["detail"] == "A product with SKU 'MUG' already exists in this shop."
    assert Product.objects.get(shop=products["MUG"].shop, sku="MUG").name == products["MUG"].name
    assert row_counts() == before


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"name": "Tea", "price": "1.00"}, "sku", "required"),
        ({"sku": "has space", "name": "Tea", "price": "1.00"}, "sku", "invalid"),
        ({"sku": "TEA", "name": "Tea", "price": "-0.01"}, "price", "min_value"),
        ({"sku": "TEA", "name": "Tea", "price": "1.001"}, "price", "max_decimal_places"),
        ({"sku": "TEA", "name": "Tea", "price": "1.00", "stock": -1}, "stock", "min_value"),
        ({"sku": "TEA", "name": "Tea", "price": "1.00", "currency": "eur"}, "currency", "invalid"),
    ],
)
def test_rejects_an_invalid_product(api, shop, body, attr, code):
    response = api.post("/api/v1/products", body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [(attr, code)]
    assert Product.objects.count() == 0


def test_refuses_a_currency_the_shop_does_not_sell_in(api, shop):
    response = api.post(
        "/api/v1/products",
        {"sku": "TEA", "name": "Tea", "price": "1.00", "currency": "USD"},
        format="json",
    )

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert problem["errors"] == [
        {"attr": "currency", "code": "currency_mismatch", "detail": "Use EUR."}
    ]
    assert Product.objects.count() == 0


# --- retrieve and update ----------------------------------------------------------------------


def test_shows_a_product(api, products):
    response = api.get("/api/v1/products/FILTER")

    assert response.status_code == 200, response.content
    assert response.json()["sku"] == "FILTER"
    assert response.json()["stock"] == 1000


def test_hides_another_shops_product(api, other_shop):
    ProductFactory(shop=other_shop, sku="THEIRS")

    response = api.get("/api/v1/products/THEIRS")

    body = assert_problem(response, status=404, type_slug="not-found")
    assert body["detail"] == "No product with SKU 'THEIRS'."


def test_updates_name_price_and_stock(api, products):
    response = api.patch(
        "/api/v1/products/MUG",
        {"name": "Big mug", "price": "12.00", "stock": 40},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["price"], response.json()["stock"]) == (
        "Big mug",
        "12.00",
        40,
    )
    mug = Product.objects.get(pk=products["MUG"].pk)
    assert (mug.name, mug.price, mug.on_hand) == ("Big mug", Decimal("12.00"), 40)


def test_updates_only_what_is_sent(api, products):
    response = api.patch("/api/v1/products/MUG", {"price": "11.00"}, format="json")

    assert response.status_code == 200, response.content
    mug = Product.objects.get(pk=products["MUG"].pk)
    assert (mug.name, mug.price, mug.on_hand) == (products["MUG"].name, Decimal("11.00"), 20)


def test_refuses_stock_below_what_is_reserved(api, products):
    _reserve(products["MUG"], 8)

    response = api.patch("/api/v1/products/MUG", {"stock": 7}, format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {
            "attr": "stock",
            "code": "below_reserved",
            "detail": "Must be at least 8 (units reserved).",
        }
    ]
    mug = Product.objects.get(pk=products["MUG"].pk)
    assert (mug.on_hand, mug.reserved) == (20, 8)


def test_refuses_a_negative_price_and_changes_nothing(api, products):
    response = api.patch("/api/v1/products/MUG", {"price": "-1.00", "name": "x"}, format="json")

    assert_problem(response, status=400, type_slug="validation-error")
    mug = Product.objects.get(pk=products["MUG"].pk)
    assert (mug.name, mug.price) == (products["MUG"].name, Decimal("9.90"))


def test_cannot_update_another_shops_product(api, other_shop):
    theirs = ProductFactory(shop=other_shop, sku="THEIRS", price="5.00")

    response = api.patch("/api/v1/products/THEIRS", {"price": "0.01"}, format="json")

    assert_problem(response, status=404, type_slug="not-found")
    assert Product.objects.get(pk=theirs.pk).price == Decimal("5.00")


def test_an_unknown_field_in_an_update_is_refused_and_changes_nothing(api, products):
    response = api.patch(
        "/api/v1/products/MUG", {"prise": "1.00", "name": "Big mug"}, format="json"
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {"attr": "prise", "code": "unknown_field", "detail": "Unknown field 'prise'."}
    ]
    assert body["detail"] == "prise: Unknown field 'prise'."
    mug = Product.objects.get(pk=products["MUG"].pk)
    assert (mug.name, mug.price) == (products["MUG"].name, Decimal("9.90"))


def test_an_unknown_field_in_a_new_product_is_refused(api, shop):
    before = row_counts()

    response = api.post(
        "/api/v1/products",
        {"sku": "CUP", "name": "Cup", "price": "2.00", "colour": "red"},
        format="json",
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {"attr": "colour", "code": "unknown_field", "detail": "Unknown field 'colour'."}
    ]
    assert row_counts() == before


@pytest.mark.parametrize("sku", ["%00", "MUG%00", "MUG%0A", "%C3%BC"])
def test_a_sku_no_product_can_have_is_a_404(api, products, sku):
    response = api.get(f"/api/v1/products/{sku}")

    body = assert_problem(response, status=404, type_slug="not-found")
    assert body["detail"].startswith("No product with SKU ")


def test_an_update_of_a_sku_no_product_can_have_is_a_404(api, products):
    response = api.patch("/api/v1/products/MUG%00", {"name": "x"}, format="json")

    assert_problem(response, status=404, type_slug="not-found")


@pytest.mark.parametrize("price", [9.9, 10, "1e1", " 9.90", "9.", ".5", "+9.90", "-0.00"])
def test_a_price_not_written_as_plain_digits_is_refused(api, shop, price):
    response = api.post(
        "/api/v1/products", {"sku": "TEA", "name": "Tea", "price": price}, format="json"
    )

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert problem["errors"] == [
        {
            "attr": "price",
            "code": "not_plain",
            "detail": 'Send the price as a string of digits with up to 2 decimals, e.g. "9.90".',
        }
    ]
    assert Product.objects.count() == 0
