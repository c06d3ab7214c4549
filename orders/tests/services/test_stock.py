"""Stock: hold all of an order's lines or none, release them, consume them on dispatch."""

import pytest
from django.db import IntegrityError, transaction

from orders.models import Product
from orders.services.stock import Shortage, stock_consume, stock_release, stock_reserve
from testkit.factories import order_for

from ..assertions import stock_of

pytestmark = pytest.mark.django_db


def test_reserves_every_line(shop, products):
    order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1})

    shortages = stock_reserve(order=order)

    assert shortages == []
    assert stock_of(shop) == {"COFFEE-1KG": (50, 2), "MUG": (20, 1), "FILTER": (1000, 0)}


def test_reserves_up_to_the_last_unit(shop, products):
    order = order_for(shop, lines={"MUG": 20})

    shortages = stock_reserve(order=order)

    assert shortages == []
    assert stock_of(shop)["MUG"] == (20, 20)


def test_reserves_nothing_when_one_line_is_short(shop, products):
    order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 21, "FILTER": 3})

    shortages = stock_reserve(order=order)

    assert shortages == [Shortage(sku="MUG", requested=21, available=20)]
    assert stock_of(shop) == {"COFFEE-1KG": (50, 0), "MUG": (20, 0), "FILTER": (1000, 0)}


def test_names_every_short_line_with_what_is_left_after_other_orders(shop, products):
    stock_reserve(order=order_for(shop, lines={"COFFEE-1KG": 45, "MUG": 15}))
    order = order_for(shop, lines={"COFFEE-1KG": 6, "MUG": 6, "FILTER": 1})

    shortages = stock_reserve(order=order)

    assert shortages == [
        Shortage(sku="COFFEE-1KG", requested=6, available=5),
        Shortage(sku="MUG", requested=6, available=5),
    ]
    assert stock_of(shop) == {"COFFEE-1KG": (50, 45), "MUG": (20, 15), "FILTER": (1000, 0)}


def test_a_second_order_cannot_take_units_the_first_holds(shop, products):
    stock_reserve(order=order_for(shop, lines={"MUG": 20}))

    shortages = stock_reserve(order=order_for(shop, lines={"MUG": 1}))

    assert shortages == [Shortage(sku="MUG", requested=1, available=0)]
    assert stock_of(shop)["MUG"] == (20, 20)


def test_release_gives_back_exactly_what_the_order_held(shop, products):
    other = order_for(shop, lines={"COFFEE-1KG": 3})
    order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1})
    stock_reserve(order=other)
    stock_reserve(order=order)

    stock_release(order=order)

    assert stock_of(shop) == {"COFFEE-1KG": (50, 3), "MUG": (20, 0), "FILTER": (1000, 0)}


def test_consume_takes_the_held_units_out_of_the_warehouse(shop, products):
    other = order_for(shop, lines={"COFFEE-1KG": 3})
    order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1})
    stock_reserve(order=other)
    stock_reserve(order=order)

    stock_consume(order=order)

    assert stock_of(shop) == {"COFFEE-1KG": (48, 3), "MUG": (19, 0), "FILTER": (1000, 0)}


@pytest.mark.parametrize("change", [stock_release, stock_consume])
def test_never_goes_below_zero_for_an_order_that_holds_nothing(shop, products, change):
    order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1})

    with (
        pytest.raises(IntegrityError, match="product_reserved_within_on_hand"),
        transaction.atomic(),
    ):
        change(order=order)

    assert stock_of(shop) == {"COFFEE-1KG": (50, 0), "MUG": (20, 0), "FILTER": (1000, 0)}


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"on_hand": -1}, "product_on_hand_not_negative"),
        ({"reserved": -1}, "product_reserved_within_on_hand"),
        ({"reserved": 51}, "product_reserved_within_on_hand"),
    ],
)
def test_the_check_constraints_refuse_impossible_stock(shop, products, fields, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Product.objects.filter(pk=products["COFFEE-1KG"].pk).update(**fields)

    assert stock_of(shop)["COFFEE-1KG"] == (50, 0)


def test_on_hand_cannot_drop_below_what_is_reserved(shop, products):
    stock_reserve(order=order_for(shop, lines={"MUG": 5}))

    with (
        pytest.raises(IntegrityError, match="product_reserved_within_on_hand"),
        transaction.atomic(),
    ):
        Product.objects.filter(pk=products["MUG"].pk).update(on_hand=4)

    assert stock_of(shop)["MUG"] == (20, 5)
