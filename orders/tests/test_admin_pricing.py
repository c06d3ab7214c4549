"""Support's pages for tax rates, shipping methods and discount codes."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.models import Discount, ShippingMethod, TaxRate
from testkit.factories import ShopFactory, order_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def _settings_of(shop, n: int) -> None:
    for i in range(n):
        TaxRate.objects.create(shop=shop, tax_class=f"class{i}", rate=Decimal("0.1"))
        ShippingMethod.objects.create(shop=shop, code=f"m{i}", name=f"Method {i}", price="5.00")
        Discount.objects.create(shop=shop, code=f"CODE{i}", kind="fixed", value="1.00")


def _queries(staff, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = staff.get(path)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("model", ["taxrate", "shippingmethod", "discount"])
def test_a_list_costs_the_same_queries_for_2_rows_as_for_12(staff, model):
    _settings_of(ShopFactory(), 1)
    _settings_of(ShopFactory(), 1)
    few = _queries(staff, f"/admin/orders/{model}/")

    for _ in range(5):
        _settings_of(ShopFactory(), 2)

    assert _queries(staff, f"/admin/orders/{model}/") == few


@pytest.mark.parametrize("model", ["taxrate", "shippingmethod", "discount"])
def test_a_setting_is_found_by_its_shop_or_code(staff, model):
    wanted = ShopFactory(name="Cafe Aurora", slug="cafe-aurora")
    other = ShopFactory(name="Tea House", slug="tea-house")
    _settings_of(wanted, 1)
    _settings_of(other, 1)

    by_shop = staff.get(f"/admin/orders/{model}/", {"q": "aurora"})

    assert [row.shop_id for row in by_shop.context["cl"].result_list] == [wanted.pk]
    if model != "taxrate":
        term = {"shippingmethod": "m0", "discount": "code0"}[model]
        by_code = staff.get(f"/admin/orders/{model}/", {"q": term})
        assert {row.shop_id for row in by_code.context["cl"].result_list} == {wanted.pk, other.pk}


def test_the_shop_page_edits_its_tax_rates(staff, shop):
    TaxRate.objects.create(shop=shop, tax_class="reduced", country="PT", rate=Decimal("0.06"))

    response = staff.get(f"/admin/orders/shop/{shop.pk}/change/")

    formset = next(
        f for f in response.context["inline_admin_formsets"] if f.formset.model is TaxRate
    )
    assert [(form.instance.tax_class, form.instance.rate) for form in formset.formset.forms] == [
        ("reduced", Decimal("0.0600"))
    ]


def _form_data(**fields) -> dict:
    return {
        "discountredemption_set-TOTAL_FORMS": "0",
        "discountredemption_set-INITIAL_FORMS": "0",
        "redemptions-TOTAL_FORMS": "0",
        "redemptions-INITIAL_FORMS": "0",
        **{name: value for name, value in fields.items() if value is not None},
    }


def test_support_adds_a_method_by_weight(staff, shop):
    data = _form_data(
        shop=shop.pk,
        code="post",
        name="Post",
        kind="weight",
        price="0",
        weight_bands='[{"up_to_grams": 1000, "price": "5.00"}]',
        countries='["BR"]',
        tax_class="standard",
        active="on",
    )

    response = staff.post("/admin/orders/shippingmethod/add/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    method = ShippingMethod.objects.get()
    assert (method.weight_bands, method.countries) == (
        [{"up_to_grams": 1000, "price": "5.00"}],
        ["BR"],
    )


@pytest.mark.parametrize(
    ("bands", "countries", "field"),
    [
        (
            '[{"up_to_grams": 2000, "price": "5.00"}, {"up_to_grams": 1000, "price": "6.00"}]',
            "[]",
            "weight_bands",
        ),
        ('[{"up_to_grams": 1000, "price": 5}]', "[]", "weight_bands"),
        ("[]", "[]", "weight_bands"),
        ('[{"up_to_grams": 1000, "price": "5.00"}]', '["br"]', "countries"),
    ],
)
def test_support_cannot_add_a_method_the_api_would_refuse(staff, shop, bands, countries, field):
    data = _form_data(
        shop=shop.pk,
        code="post",
        name="Post",
        kind="weight",
        price="0",
        weight_bands=bands,
        countries=countries,
        tax_class="standard",
    )

    response = staff.post("/admin/orders/shippingmethod/add/", data)

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not ShippingMethod.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "percentage", "value": "120"}, "value"),
        ({"skus": '["NOPE"]'}, "skus"),
        ({"skus": '"MUG"'}, "skus"),
        (
            {
                "starts_at_0": "2026-02-01",
                "starts_at_1": "00:00",
                "ends_at_0": "2026-01-01",
                "ends_at_1": "00:00",
            },
            "ends_at",
        ),
        ({"code": "two words"}, "code"),
        ({"code": "welcome"}, None),
    ],
)
def test_support_cannot_add_a_code_the_api_would_refuse(staff, shop, products, fields, field):
    Discount.objects.create(shop=shop, code="WELCOME", kind="fixed", value="1.00")
    data = _form_data(shop=shop.pk, code="NEW", kind="fixed", value="5.00", skus="[]") | fields

    response = staff.post("/admin/orders/discount/add/", data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert (field or "__all__") in errors, errors
    assert Discount.objects.count() == 1


def test_a_code_shows_its_uses_and_orders_read_only(staff, shop, products):
    discount = Discount.objects.create(shop=shop, code="TEN", kind="percentage", value="10")
    order = order_for(shop, discount_codes=["TEN"])

    response = staff.get(f"/admin/orders/discount/{discount.pk}/change/")

    assert response.status_code == 200
    assert "uses" not in response.context["adminform"].form.fields
    page = response.content.decode()
    assert f'href="/admin/orders/order/{order.pk}/change/">{order.number}</a>' in page


def test_support_lowers_a_limit_no_further_than_the_uses(staff, shop):
    discount = Discount.objects.create(
        shop=shop, code="TEN", kind="fixed", value="1.00", max_uses=10
    )
    Discount.objects.filter(pk=discount.pk).update(uses=4)
    data = _form_data(shop=shop.pk, code="TEN", kind="fixed", value="1.00", skus="[]", max_uses="3")

    response = staff.post(f"/admin/orders/discount/{discount.pk}/change/", data)

    assert response.status_code == 200
    assert "max_uses" in response.context["adminform"].form.errors
    discount.refresh_from_db()
    assert (discount.max_uses, discount.uses) == (10, 4)


def test_lists_left_empty_are_saved_as_empty_lists(staff, shop):
    method = _form_data(shop=shop.pk, code="flat", name="Flat", kind="flat", price="4.00")
    method |= {"weight_bands": "", "countries": "", "tax_class": "standard"}
    code = _form_data(shop=shop.pk, code="TEN", kind="fixed", value="1.00", skus="")

    responses = [
        staff.post("/admin/orders/shippingmethod/add/", method),
        staff.post("/admin/orders/discount/add/", code),
    ]

    assert [r.status_code for r in responses] == [302, 302]
    assert (ShippingMethod.objects.get().weight_bands, ShippingMethod.objects.get().countries) == (
        [],
        [],
    )
    assert Discount.objects.get().skus == []


def _shop_page_data(staff, shop) -> tuple[dict, str]:
    page = staff.get(f"/admin/orders/shop/{shop.pk}/change/")
    data = {
        name: value
        for name, value in page.context["adminform"].form.initial.items()
        if value is not None
    }
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data |= {f"{management.prefix}-{name}": value for name, value in management.initial.items()}
    prefix = next(
        f.formset.prefix
        for f in page.context["inline_admin_formsets"]
        if f.formset.model is TaxRate
    )
    return data, prefix


def test_support_adds_tax_rates_on_the_shop_page(staff):
    shop = ShopFactory(carriers=[])
    data, prefix = _shop_page_data(staff, shop)
    data |= {
        f"{prefix}-TOTAL_FORMS": "2",
        f"{prefix}-0-tax_class": "reduced",
        f"{prefix}-0-country": "PT",
        f"{prefix}-0-rate": "0.06",
        f"{prefix}-1-tax_class": "reduced",
        f"{prefix}-1-country": "",
        f"{prefix}-1-rate": "0.1",
    }

    response = staff.post(f"/admin/orders/shop/{shop.pk}/change/", data)

    assert response.status_code == 302, (
        response.context["adminform"].form.errors,
        [f.formset.errors for f in response.context["inline_admin_formsets"]],
    )
    assert sorted(shop.tax_rates.values_list("country", "rate")) == [
        ("", Decimal("0.1000")),
        ("PT", Decimal("0.0600")),
    ]


@pytest.mark.parametrize("existing", [True, False])
def test_a_class_and_country_twice_on_the_shop_page_is_a_message(staff, existing):
    shop = ShopFactory(carriers=[])
    if existing:
        TaxRate.objects.create(shop=shop, tax_class="reduced", country="PT", rate=Decimal("0.06"))
    data, prefix = _shop_page_data(staff, shop)
    start = int(data[f"{prefix}-INITIAL_FORMS"])
    rows = {}
    if existing:
        rate = TaxRate.objects.get()
        rows |= {
            f"{prefix}-0-id": str(rate.pk),
            f"{prefix}-0-tax_class": "reduced",
            f"{prefix}-0-country": "PT",
            f"{prefix}-0-rate": "0.06",
        }
    for i in range(start, 2):
        rows |= {
            f"{prefix}-{i}-tax_class": "reduced",
            f"{prefix}-{i}-country": "PT",
            f"{prefix}-{i}-rate": "0.2",
        }
    data |= {f"{prefix}-TOTAL_FORMS": "2", **rows}

    response = staff.post(f"/admin/orders/shop/{shop.pk}/change/", data)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Please correct the duplicate data" in page or "already exists" in page
    assert TaxRate.objects.count() == (1 if existing else 0)
