"""The shop's pricing settings over the API: shipping methods, discounts, tax rates, the shop."""

from decimal import Decimal

import pytest

from orders.models import Discount, DiscountRedemption, ShippingMethod, Shop, TaxRate
from testkit.factories import ProductFactory

from ..assertions import assert_problem

pytestmark = pytest.mark.django_db


def _attrs(problem: dict) -> dict[str, str]:
    return {error["attr"]: error["code"] for error in problem["errors"]}


# --- the shop ----------------------------------------------------------------------------------
def test_the_shop_shows_its_settings(api, shop):
    response = api.get("/api/v1/shop")

    assert response.status_code == 200
    assert response.json() == {
        "name": shop.name,
        "currency": shop.currency,
        "prices_include_tax": True,
        "language": "en",
        "tax_rate": "0.0000",
        "capture_on_shipment": False,
    }


def test_a_shop_changes_its_basis_language_and_standard_rate(api, shop):
    response = api.patch(
        "/api/v1/shop",
        {"prices_include_tax": False, "language": "pt-BR", "tax_rate": "0.17"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["tax_rate"] == "0.1700"
    shop.refresh_from_db()
    assert (shop.prices_include_tax, shop.language, shop.tax_rate) == (
        False,
        "pt-BR",
        Decimal("0.17"),
    )


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"language": "fr"}, "language"),
        ({"tax_rate": "1.5"}, "tax_rate"),
        ({"tax_rate": "-0.1"}, "tax_rate"),
        ({"tax_rate": 0.2}, "tax_rate"),
        ({"tax_rate": "0.12345"}, "tax_rate"),
        ({"prices_include_tax": "maybe"}, "prices_include_tax"),
        ({"name": "Renamed"}, "name"),
        ({"currency": "USD"}, "currency"),
    ],
)
def test_bad_shop_settings_are_refused_and_change_nothing(api, shop, body, attr):
    response = api.patch("/api/v1/shop", body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert attr in _attrs(problem)
    fresh = Shop.objects.get(pk=shop.pk)
    assert (fresh.name, fresh.currency, fresh.language, fresh.tax_rate) == (
        shop.name,
        shop.currency,
        "en",
        Decimal("0"),
    )


def test_one_shop_changes_only_its_own_settings(api, other_api, shop, other_shop):
    other_api.patch("/api/v1/shop", {"language": "pt-BR"}, format="json")

    assert api.get("/api/v1/shop").json()["language"] == "en"
    assert other_api.get("/api/v1/shop").json()["name"] == other_shop.name


def test_settings_need_a_key(client):
    for path in [
        "/api/v1/shop",
        "/api/v1/shipping-methods",
        "/api/v1/discounts",
        "/api/v1/tax-rates",
    ]:
        assert client.get(path).status_code == 401


# --- shipping methods -----------------------------------------------------------------------------
WEIGHT_METHOD = {
    "code": "post",
    "name": "Post",
    "kind": "weight",
    "weight_bands": [
        {"up_to_grams": 1000, "price": "5.00"},
        {"up_to_grams": 5000, "price": "9.00"},
    ],
    "free_above": "80.00",
    "countries": ["BR", "PT"],
    "tax_class": "reduced",
}


def test_a_method_by_weight_is_created_and_read(api, shop):
    response = api.post("/api/v1/shipping-methods", WEIGHT_METHOD, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert {k: data[k] for k in WEIGHT_METHOD} == WEIGHT_METHOD
    assert (data["price"], data["active"]) == ("0.00", True)
    method = ShippingMethod.objects.get(shop=shop, code="post")
    assert method.weight_bands == WEIGHT_METHOD["weight_bands"]
    assert api.get("/api/v1/shipping-methods/post").json() == data
    listed = api.get("/api/v1/shipping-methods").json()
    assert [m["code"] for m in listed["results"]] == ["post"]


def test_a_flat_method_takes_its_defaults(api):
    response = api.post(
        "/api/v1/shipping-methods",
        {"code": "courier", "name": "Courier", "price": "12.00"},
        format="json",
    )

    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["kind"], data["price"], data["free_above"], data["countries"]) == (
        "flat",
        "12.00",
        None,
        [],
    )
    assert (data["weight_bands"], data["tax_class"], data["active"]) == ([], "standard", True)


@pytest.mark.parametrize(
    ("change", "attr"),
    [
        ({"code": "with space"}, "code"),
        ({"code": ""}, "code"),
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"kind": "zone"}, "kind"),
        ({"price": 5}, "price"),
        ({"price": "-1.00"}, "price"),
        ({"price": "1.001"}, "price"),
        ({"weight_bands": [{"up_to_grams": 0, "price": "1.00"}]}, "weight_bands.0.up_to_grams"),
        ({"weight_bands": [{"up_to_grams": 10, "price": "1e1"}]}, "weight_bands.0.price"),
        ({"weight_bands": [{"up_to_grams": 10}]}, "weight_bands.0.price"),
        (
            {"weight_bands": [{"up_to_grams": 10, "price": "1.00", "extra": 1}]},
            "weight_bands.0.extra",
        ),
        (
            {
                "weight_bands": [
                    {"up_to_grams": 2000, "price": "1.00"},
                    {"up_to_grams": 1000, "price": "2.00"},
                ]
            },
            "weight_bands",
        ),
        ({"weight_bands": []}, "weight_bands"),
        ({"free_above": "abc"}, "free_above"),
        ({"countries": ["br"]}, "countries.0"),
        ({"countries": ["BRA"]}, "countries.0"),
        ({"countries": ["BR", "BR"]}, "countries"),
        ({"countries": "BR"}, "countries"),
        ({"tax_class": "Reduced!"}, "tax_class"),
        ({"active": "perhaps"}, "active"),
        ({"shop": 1}, "shop"),
    ],
)
def test_a_bad_method_is_refused_naming_the_field(api, change, attr):
    response = api.post("/api/v1/shipping-methods", {**WEIGHT_METHOD, **change}, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert attr in _attrs(problem)
    assert not ShippingMethod.objects.exists()


def test_a_code_twice_is_a_conflict(api, other_api):
    api.post("/api/v1/shipping-methods", WEIGHT_METHOD, format="json")

    response = api.post("/api/v1/shipping-methods", WEIGHT_METHOD, format="json")

    problem = assert_problem(response, status=409, type_slug="already-exists")
    assert _attrs(problem) == {"code": "unique"}
    # another shop may have the same code
    assert (
        other_api.post("/api/v1/shipping-methods", WEIGHT_METHOD, format="json").status_code == 201
    )


def test_a_method_is_changed_in_part(api):
    api.post("/api/v1/shipping-methods", WEIGHT_METHOD, format="json")

    response = api.patch(
        "/api/v1/shipping-methods/post",
        {"free_above": None, "countries": [], "active": False, "name": "Slow post"},
        format="json",
    )

    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["free_above"], data["countries"], data["active"], data["name"]) == (
        None,
        [],
        False,
        "Slow post",
    )
    assert data["weight_bands"] == WEIGHT_METHOD["weight_bands"]


def test_a_new_default_method_takes_over_from_the_shops_previous_one(api, other_api, shop):
    other_api.post("/api/v1/shipping-methods", {**WEIGHT_METHOD, "is_default": True}, format="json")
    created = api.post(
        "/api/v1/shipping-methods", {**WEIGHT_METHOD, "is_default": True}, format="json"
    )
    assert (created.status_code, created.json()["is_default"]) == (201, True)
    api.post(
        "/api/v1/shipping-methods",
        {"code": "courier", "name": "Courier", "price": "12.00"},
        format="json",
    )

    response = api.patch("/api/v1/shipping-methods/courier", {"is_default": True}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["is_default"] is True
    listed = api.get("/api/v1/shipping-methods").json()["results"]
    assert [(m["code"], m["is_default"]) for m in listed] == [("courier", True), ("post", False)]
    # another shop's default is its own
    assert other_api.get("/api/v1/shipping-methods/post").json()["is_default"] is True


def test_a_default_that_is_not_a_flag_is_refused(api):
    api.post("/api/v1/shipping-methods", WEIGHT_METHOD, format="json")

    response = api.patch("/api/v1/shipping-methods/post", {"is_default": "yes"}, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [e["attr"] for e in problem["errors"]] == ["is_default"]
    assert api.get("/api/v1/shipping-methods/post").json()["is_default"] is False


@pytest.mark.parametrize(
    ("body", "attr"),
    [({"code": "other"}, "code"), ({"kind": "flat", "weight_bands": [], "x": 1}, "x")],
)
def test_a_bad_method_change_is_refused(api, body, attr):
    api.post("/api/v1/shipping-methods", WEIGHT_METHOD, format="json")

    response = api.patch("/api/v1/shipping-methods/post", body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert attr in _attrs(problem)
    assert ShippingMethod.objects.get().kind == "weight"


def test_a_weight_method_cannot_lose_its_bands(api):
    api.post("/api/v1/shipping-methods", WEIGHT_METHOD, format="json")

    response = api.patch("/api/v1/shipping-methods/post", {"weight_bands": []}, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert _attrs(problem) == {"weight_bands": "required"}


def test_a_method_orders_used_is_deleted_and_the_orders_keep_their_copy(api, products, order_body):
    api.post(
        "/api/v1/shipping-methods",
        {"code": "courier", "name": "Courier", "price": "12.00"},
        format="json",
    )
    placed = api.post("/api/v1/orders", order_body(shipping_method="courier"), format="json")
    assert placed.status_code == 201, placed.content

    assert api.delete("/api/v1/shipping-methods/courier").status_code == 204

    assert not ShippingMethod.objects.exists()
    order = api.get(f"/api/v1/orders/{placed.json()['id']}").json()
    assert (order["shipping_method"], order["shipping_total"], order["total"]) == (
        "courier",
        "12.00",
        placed.json()["total"],
    )
    assert_problem(api.get("/api/v1/shipping-methods/courier"), status=404, type_slug="not-found")


def test_another_shops_method_is_not_found(api, other_api):
    other_api.post("/api/v1/shipping-methods", WEIGHT_METHOD, format="json")

    assert api.get("/api/v1/shipping-methods").json()["results"] == []
    for call in (api.get, api.delete):
        assert_problem(call("/api/v1/shipping-methods/post"), status=404, type_slug="not-found")
    response = api.patch("/api/v1/shipping-methods/post", {"active": False}, format="json")
    assert_problem(response, status=404, type_slug="not-found")
    assert ShippingMethod.objects.get().active is True


def test_an_impossible_code_in_the_url_is_not_found(api):
    assert_problem(api.get("/api/v1/shipping-methods/a%00b"), status=404, type_slug="not-found")
    assert_problem(api.get("/api/v1/discounts/a%00b"), status=404, type_slug="not-found")


# --- discounts ------------------------------------------------------------------------------------
@pytest.fixture
def coffee(products):
    return products["COFFEE-1KG"]


DISCOUNT = {
    "code": "Coffee10",
    "kind": "percentage",
    "value": "10",
    "skus": ["COFFEE-1KG"],
    "starts_at": "2026-01-01T00:00:00Z",
    "ends_at": "2027-01-01T00:00:00Z",
    "max_uses": 50,
    "once_per_customer": True,
    "min_subtotal": "20.00",
}


def test_a_discount_is_created_and_read_in_any_case(api, coffee):
    response = api.post("/api/v1/discounts", DISCOUNT, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["code"] == "Coffee10"
    assert (data["value"], data["uses"], data["active"], data["skus"]) == (
        "10.00",
        0,
        True,
        ["COFFEE-1KG"],
    )
    assert (data["starts_at"], data["max_uses"], data["min_subtotal"]) == (
        "2026-01-01T00:00:00Z",
        50,
        "20.00",
    )
    assert api.get("/api/v1/discounts/COFFEE10").json() == data
    assert [d["code"] for d in api.get("/api/v1/discounts").json()["results"]] == ["Coffee10"]


def test_a_fixed_discount_on_the_order(api):
    response = api.post(
        "/api/v1/discounts", {"code": "FIVE", "kind": "fixed", "value": "5.00"}, format="json"
    )

    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["skus"], data["max_uses"], data["once_per_customer"], data["ends_at"]) == (
        [],
        None,
        False,
        None,
    )


@pytest.mark.parametrize(
    ("change", "attr"),
    [
        ({"code": "no spaces"}, "code"),
        ({"kind": "bogo"}, "kind"),
        ({"value": "0"}, "value"),
        ({"value": "0.00"}, "value"),
        ({"value": "100.01"}, "value"),
        ({"value": 10}, "value"),
        ({"skus": ["NOPE"]}, "skus.0"),
        ({"skus": ["COFFEE-1KG", "COFFEE-1KG"]}, "skus"),
        ({"skus": ["bad sku"]}, "skus.0"),
        ({"starts_at": "2027-01-01T00:00:00Z"}, "ends_at"),
        ({"starts_at": "yesterday"}, "starts_at"),
        ({"max_uses": 0}, "max_uses"),
        ({"once_per_customer": "yes please"}, "once_per_customer"),
        ({"min_subtotal": "-1"}, "min_subtotal"),
        ({"uses": 3}, "uses"),
    ],
)
def test_a_bad_discount_is_refused_naming_the_field(api, coffee, change, attr):
    response = api.post("/api/v1/discounts", {**DISCOUNT, **change}, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert attr in _attrs(problem)
    assert not Discount.objects.exists()


def test_a_percentage_of_100_and_a_fixed_amount_over_100_are_fine(api, coffee):
    full = api.post("/api/v1/discounts", {**DISCOUNT, "value": "100"}, format="json")
    big = api.post(
        "/api/v1/discounts", {"code": "BIG", "kind": "fixed", "value": "150.00"}, format="json"
    )

    assert (full.status_code, big.status_code) == (201, 201)


def test_skus_of_another_shop_are_unknown(api, other_shop):
    ProductFactory(shop=other_shop, sku="THEIRS")

    response = api.post("/api/v1/discounts", {**DISCOUNT, "skus": ["THEIRS"]}, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert _attrs(problem) == {"skus.0": "unknown_sku"}


def test_a_code_in_another_case_is_a_conflict(api, coffee):
    api.post("/api/v1/discounts", DISCOUNT, format="json")

    response = api.post("/api/v1/discounts", {**DISCOUNT, "code": "COFFEE10"}, format="json")

    problem = assert_problem(response, status=409, type_slug="already-exists")
    assert _attrs(problem) == {"code": "unique"}
    assert Discount.objects.count() == 1


def test_a_discount_is_changed_and_its_uses_stay_read_only(api, shop, coffee):
    api.post("/api/v1/discounts", DISCOUNT, format="json")
    Discount.objects.update(uses=7)

    response = api.patch(
        "/api/v1/discounts/coffee10",
        {
            "kind": "fixed",
            "value": "3.00",
            "skus": [],
            "ends_at": None,
            "max_uses": 7,
            "min_subtotal": None,
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["kind"], data["value"], data["skus"], data["ends_at"], data["max_uses"]) == (
        "fixed",
        "3.00",
        [],
        None,
        7,
    )
    assert (data["uses"], data["min_subtotal"]) == (7, None)
    refused = api.patch("/api/v1/discounts/coffee10", {"uses": 0}, format="json")
    assert _attrs(assert_problem(refused, status=400, type_slug="validation-error")) == {
        "uses": "unknown_field"
    }


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"max_uses": 6}, "max_uses", "below_uses"),
        ({"value": "150"}, "value", "max_value"),
        ({"ends_at": "2025-01-01T00:00:00Z"}, "ends_at", "invalid"),
        ({"skus": ["NOPE"]}, "skus.0", "unknown_sku"),
    ],
)
def test_a_change_breaking_a_rule_is_refused_and_changes_nothing(api, coffee, body, attr, code):
    api.post("/api/v1/discounts", DISCOUNT, format="json")
    Discount.objects.update(uses=7)

    response = api.patch("/api/v1/discounts/COFFEE10", body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert _attrs(problem) == {attr: code}
    discount = Discount.objects.get()
    assert (discount.max_uses, discount.value, discount.skus) == (50, Decimal("10"), ["COFFEE-1KG"])


def test_an_unused_discount_is_deleted(api, coffee):
    api.post("/api/v1/discounts", DISCOUNT, format="json")

    assert api.delete("/api/v1/discounts/coffee10").status_code == 204
    assert not Discount.objects.exists()


def test_a_discount_orders_carry_cannot_be_deleted(api, coffee, order_body):
    api.post("/api/v1/discounts", DISCOUNT, format="json")
    placed = api.post("/api/v1/orders", order_body(discount_codes=["coffee10"]), format="json")
    assert placed.status_code == 201, placed.content
    assert DiscountRedemption.objects.count() == 1

    response = api.delete("/api/v1/discounts/Coffee10")

    problem = assert_problem(response, status=409, type_slug="discount-in-use")
    assert '"active": false' in problem["detail"]
    assert Discount.objects.count() == 1
    assert (
        api.patch("/api/v1/discounts/Coffee10", {"active": False}, format="json").json()["active"]
        is False
    )


def test_another_shops_discount_is_not_found(api, other_api, other_shop):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    other_api.post("/api/v1/discounts", DISCOUNT, format="json")

    assert api.get("/api/v1/discounts").json()["results"] == []
    for call in (api.get, api.delete):
        assert_problem(call("/api/v1/discounts/COFFEE10"), status=404, type_slug="not-found")
    response = api.patch("/api/v1/discounts/COFFEE10", {"active": False}, format="json")
    assert_problem(response, status=404, type_slug="not-found")
    assert Discount.objects.get().active is True


# --- tax rates ------------------------------------------------------------------------------------
def test_tax_rates_are_created_listed_changed_and_deleted(api, shop):
    created = api.post(
        "/api/v1/tax-rates",
        {"tax_class": "reduced", "country": "PT", "rate": "0.06"},
        format="json",
    )
    everywhere = api.post("/api/v1/tax-rates", {"rate": "0.2"}, format="json")

    assert (created.status_code, everywhere.status_code) == (201, 201), created.content
    assert created.json()["rate"] == "0.0600"
    assert {k: everywhere.json()[k] for k in ("tax_class", "country", "rate")} == {
        "tax_class": "standard",
        "country": "",
        "rate": "0.2000",
    }
    listed = api.get("/api/v1/tax-rates").json()["results"]
    assert [r["id"] for r in listed] == [created.json()["id"], everywhere.json()["id"]]

    rate_id = created.json()["id"]
    changed = api.patch(
        f"/api/v1/tax-rates/{rate_id}", {"rate": "0.23", "country": ""}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert (changed.json()["rate"], changed.json()["country"]) == ("0.2300", "")

    assert api.delete(f"/api/v1/tax-rates/{rate_id}").status_code == 204
    assert list(TaxRate.objects.values_list("tax_class", flat=True)) == ["standard"]


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"rate": "1.01"}, "rate"),
        ({"rate": "-0.01"}, "rate"),
        ({"rate": 0.2}, "rate"),
        ({"rate": "20%"}, "rate"),
        ({"rate": "0.00001"}, "rate"),
        ({}, "rate"),
        ({"rate": "0.2", "country": "pt"}, "country"),
        ({"rate": "0.2", "country": "PRT"}, "country"),
        ({"rate": "0.2", "tax_class": ""}, "tax_class"),
        ({"rate": "0.2", "tax_class": "A B"}, "tax_class"),
        ({"rate": "0.2", "shop": 3}, "shop"),
    ],
)
def test_a_bad_tax_rate_is_refused_naming_the_field(api, body, attr):
    response = api.post("/api/v1/tax-rates", body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert attr in _attrs(problem)
    assert not TaxRate.objects.exists()


def test_a_class_and_country_twice_is_a_conflict(api):
    api.post("/api/v1/tax-rates", {"tax_class": "reduced", "rate": "0.06"}, format="json")
    other = api.post(
        "/api/v1/tax-rates",
        {"tax_class": "reduced", "country": "PT", "rate": "0.06"},
        format="json",
    )

    again = api.post("/api/v1/tax-rates", {"tax_class": "reduced", "rate": "0.1"}, format="json")
    moved = api.patch(f"/api/v1/tax-rates/{other.json()['id']}", {"country": ""}, format="json")

    for response in (again, moved):
        assert _attrs(assert_problem(response, status=409, type_slug="already-exists")) == {
            "country": "unique"
        }
    assert sorted(TaxRate.objects.values_list("country", flat=True)) == ["", "PT"]


def test_another_shops_tax_rate_is_not_found(api, other_api):
    rate_id = other_api.post("/api/v1/tax-rates", {"rate": "0.2"}, format="json").json()["id"]

    assert api.get("/api/v1/tax-rates").json()["results"] == []
    response = api.patch(f"/api/v1/tax-rates/{rate_id}", {"rate": "0.5"}, format="json")
    assert_problem(response, status=404, type_slug="not-found")
    assert_problem(api.delete(f"/api/v1/tax-rates/{rate_id}"), status=404, type_slug="not-found")
    assert TaxRate.objects.get().rate == Decimal("0.2")


def test_an_id_out_of_range_is_not_found(api):
    response = api.patch("/api/v1/tax-rates/99999999999999999999", {"rate": "0.5"}, format="json")

    assert response.status_code == 404


# --- pages ----------------------------------------------------------------------------------------
def test_each_list_is_paged_with_limit_and_cursor(api, shop):
    for i in range(3):
        ShippingMethod.objects.create(shop=shop, code=f"m{i}", name=f"M{i}")
        Discount.objects.create(shop=shop, code=f"C{i}", kind="fixed", value="1.00")
        TaxRate.objects.create(shop=shop, tax_class=f"c{i}", rate=Decimal("0.1"))

    for path, key in [
        ("/api/v1/shipping-methods", "code"),
        ("/api/v1/discounts", "code"),
        ("/api/v1/tax-rates", "tax_class"),
    ]:
        first = api.get(path, {"limit": 2}).json()
        second = api.get(first["next"]).json()
        assert [row[key] for row in first["results"] + second["results"]] == sorted(
            row[key] for row in first["results"] + second["results"]
        )
        assert (len(first["results"]), len(second["results"])) == (2, 1)
        for bad in ({"limit": "abc"}, {"cursor": "garbage"}):
            problem = assert_problem(api.get(path, bad), status=400, type_slug="validation-error")
            assert _attrs(problem).keys() == bad.keys()


@pytest.mark.parametrize(
    ("path", "body", "attr"),
    [
        ("/api/v1/discounts", {"code": 0, "kind": "fixed", "value": "1.00"}, "code"),
        (
            "/api/v1/discounts",
            {"code": "A", "kind": "fixed", "value": "1.00", "skus": [1]},
            "skus.0",
        ),
        ("/api/v1/shipping-methods", {"code": 7, "name": "Seven"}, "code"),
        ("/api/v1/shipping-methods", {"code": "seven", "name": 7}, "name"),
        ("/api/v1/tax-rates", {"tax_class": 1, "rate": "0.1"}, "tax_class"),
    ],
)
def test_a_number_is_not_a_string(api, body, path, attr):
    response = api.post(path, body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert _attrs(problem) == {attr: "invalid"}


@pytest.mark.parametrize(
    ("path", "body", "attr"),
    [
        (
            "/api/v1/discounts",
            {"code": "A", "kind": "fixed", "value": "1.00", "active": 0},
            "active",
        ),
        (
            "/api/v1/discounts",
            {"code": "A", "kind": "fixed", "value": "1", "max_uses": "5"},
            "max_uses",
        ),
        (
            "/api/v1/discounts",
            {"code": "A", "kind": "fixed", "value": "1", "max_uses": True},
            "max_uses",
        ),
        (
            "/api/v1/discounts",
            {"code": "A", "kind": "fixed", "value": "1", "max_uses": 5.0},
            "max_uses",
        ),
        (
            "/api/v1/discounts",
            {"code": "A", "kind": "fixed", "value": "1", "once_per_customer": "yes"},
            "once_per_customer",
        ),
        ("/api/v1/shipping-methods", {"code": "s", "name": "S", "active": 1}, "active"),
        (
            "/api/v1/shipping-methods",
            {"code": "s", "name": "S", "weight_bands": [{"up_to_grams": "10", "price": "1.00"}]},
            "weight_bands.0.up_to_grams",
        ),
    ],
)
def test_a_flag_is_true_or_false_and_a_count_is_a_json_integer(api, path, body, attr):
    response = api.post(path, body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert _attrs(problem) == {attr: "invalid"}


@pytest.mark.parametrize("field", ["prices_include_tax", "capture_on_shipment"])
def test_a_shop_flag_is_true_or_false(api, field):
    response = api.patch("/api/v1/shop", {field: 0}, format="json")

    assert _attrs(assert_problem(response, status=400, type_slug="validation-error")) == {
        field: "invalid"
    }


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "0001-01-01T05:00:00Z"]
)
def test_a_moment_at_the_calendars_ends_is_refused(api, moment):
    body = {"code": "A", "kind": "fixed", "value": "1.00", "ends_at": moment}

    response = api.post("/api/v1/discounts", body, format="json")

    assert _attrs(assert_problem(response, status=400, type_slug="validation-error")) == {
        "ends_at": "overflow"
    }
    assert not Discount.objects.exists()
