from decimal import Decimal

import pytest

from orders import services
from orders.exceptions import ProductInputError
from orders.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def mug(products):
    """The MUG, 20 on hand, 8 of them reserved for open orders."""
    Product.objects.filter(pk=products["MUG"].pk).update(reserved=8)
    products["MUG"].refresh_from_db()
    return products["MUG"]


def test_sets_stock_name_and_price(mug):
    updated = services.product_update(product=mug, name="Big mug", price=Decimal("12.00"), stock=30)

    saved = Product.objects.get(pk=mug.pk)
    assert (saved.name, saved.price, saved.on_hand, saved.reserved) == (
        "Big mug",
        Decimal("12.00"),
        30,
        8,
    )
    assert (updated.name, updated.price, updated.on_hand, updated.available) == (
        "Big mug",
        Decimal("12.00"),
        30,
        22,
    )


def test_sets_stock_down_to_what_is_reserved(mug):
    services.product_update(product=mug, stock=8)

    assert Product.objects.get(pk=mug.pk).on_hand == 8


def test_refuses_stock_below_what_is_reserved_and_changes_nothing(mug):
    with pytest.raises(ProductInputError) as refused:
        services.product_update(product=mug, name="Renamed", stock=7)

    assert refused.value.status == 400
    assert refused.value.detail == (
        "Stock cannot be set to 7: 8 units are reserved for open orders."
    )
    assert [(e.attr, e.code, e.detail) for e in refused.value.errors] == [
        ("stock", "below_reserved", "Must be at least 8 (units reserved).")
    ]
    saved = Product.objects.get(pk=mug.pk)
    assert (saved.name, saved.on_hand, saved.reserved) == (mug.name, 20, 8)


def test_checks_against_what_is_reserved_now_not_what_was_read(mug):
    # the saga reserves more after the caller read the product
    Product.objects.filter(pk=mug.pk).update(reserved=15)

    with pytest.raises(ProductInputError) as refused:
        services.product_update(product=mug, stock=10)

    assert refused.value.errors[0].detail == "Must be at least 15 (units reserved)."
    assert Product.objects.get(pk=mug.pk).on_hand == 20


def test_changes_nothing_when_nothing_is_given(mug):
    services.product_update(product=mug)

    saved = Product.objects.get(pk=mug.pk)
    assert (saved.name, saved.price, saved.on_hand, saved.updated_at) == (
        mug.name,
        mug.price,
        20,
        mug.updated_at,
    )


def test_records_when_it_changed(mug):
    read_at = mug.updated_at

    updated = services.product_update(product=mug, price=Decimal("11.00"))

    saved = Product.objects.get(pk=mug.pk)
    assert saved.updated_at > read_at
    assert updated.updated_at == saved.updated_at
