"""The staff new-order page prices like the API: a shipping method and a discount code."""

import uuid
from decimal import Decimal

import pytest

from orders.models import Discount, Order, ShippingMethod

from .test_views import _new_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def settings_of_shop(shop):
    ShippingMethod.objects.create(
        shop=shop, code="pac", name="Correios PAC", price=Decimal("12.00"), countries=["BR"]
    )
    Discount.objects.create(
        shop=shop, code="WELCOME", kind="fixed", value=Decimal("5.00"), max_uses=1
    )


def test_the_form_places_an_order_with_a_method_and_a_code(staff, shop, products, settings_of_shop):
    response = staff.post(
        "/staff/orders/new",
        _new_order(shop, uuid.uuid4(), shipping_method="pac", discount_code="welcome"),
    )

    assert response.status_code == 302, response.content
    order = Order.objects.get()
    assert (order.shipping_method, order.shipping_total, order.discount_total, order.total) == (
        "pac",
        Decimal("12.00"),
        Decimal("5.00"),
        Decimal("56.80"),
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {},
            "shipping_method",
            "This shop ships with shipping methods: name one",
        ),
        (
            {"shipping_method": "pac", "country": "PT"},
            "country",
            "Shipping method 'pac' does not ship to PT",
        ),
        (
            {"shipping_method": "pac", "discount_code": "NOPE"},
            "discount_code",
            "Unknown discount code 'NOPE' in this shop.",
        ),
    ],
    ids=["method-missing", "country-not-served", "unknown-code"],
)
def test_what_the_shops_settings_refuse_is_shown_on_its_field(
    staff, shop, products, settings_of_shop, overrides, field, message
):
    response = staff.post("/staff/orders/new", _new_order(shop, uuid.uuid4(), **overrides))

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert message in " ".join(errors.get(field, [])), errors
    assert Order.objects.count() == 0


def test_a_code_used_up_meanwhile_is_a_message_and_places_nothing(
    staff, shop, products, settings_of_shop
):
    staff.post(
        "/staff/orders/new",
        _new_order(shop, uuid.uuid4(), shipping_method="pac", discount_code="WELCOME"),
    )

    again = staff.post(
        "/staff/orders/new",
        _new_order(shop, uuid.uuid4(), shipping_method="pac", discount_code="WELCOME"),
    )

    assert again.status_code == 200
    assert "has been used up" in str(again.context["form"].errors["discount_code"])
    assert Order.objects.count() == 1
