"""The staff ship page: only the shop's carriers, and a refused parcel is a message."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from orders import services
from orders.models import Order, Shipment
from testkit.factories import STAFF, ProductFactory, ShopFactory, order_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client):
    user = get_user_model().objects.create_user(
        username="olga", password="a-long-password-42", is_staff=True
    )
    user.groups.set(Group.objects.filter(name="operator"))
    client.force_login(user)
    return client


def _confirmed(shop):
    ProductFactory(shop=shop, sku="COFFEE-1KG")
    return order_in(shop, "confirmed")


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _saved(order) -> tuple:
    return Order.objects.values_list("status", "version", "carrier", "tracking_number").get(
        pk=order.pk
    )


def test_the_ship_page_offers_the_carriers_the_shop_ships_with(operator_client, settings):
    settings.CARRIER_SECRETS = {"demo-post": "s" * 32, "other-post": "t" * 32}
    order = _confirmed(ShopFactory(carriers=["UPS", "DHL"]))

    response = operator_client.get(f"/staff/orders/{order.id}/ship")

    assert response.status_code == 200
    assert response.context["carriers"] == ["DHL", "UPS"]
    assert b'<option value="DHL"><option value="UPS"></datalist>' in response.content


def test_a_carrier_the_shop_does_not_ship_with_is_a_message_and_changes_nothing(
    operator_client,
):
    order = _confirmed(ShopFactory(carriers=["DHL"]))
    before = _saved(order)

    response = operator_client.post(
        f"/staff/orders/{order.id}/ship",
        {"carrier": "demo-post", "tracking_number": "DP-4242"},
        follow=True,
    )

    assert response.status_code == 200
    assert _messages(response) == ["Not done: The shop does not ship with carrier 'demo-post'."]
    assert _saved(order) == before


def test_a_tracking_number_on_the_road_is_a_message_and_changes_nothing(operator_client):
    services.order_ship(
        order_id=_confirmed(ShopFactory()).id,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number="JD-4242",
    )
    order = _confirmed(ShopFactory())
    before = _saved(order)

    response = operator_client.post(
        f"/staff/orders/{order.id}/ship",
        {"carrier": "DHL", "tracking_number": "JD-4242"},
        follow=True,
    )

    assert _messages(response) == [
        "Not done: Tracking number 'JD-4242' of DHL is on another parcel that is not yet delivered."
    ]
    assert _saved(order) == before


def test_staff_ship_chosen_units_and_then_the_rest(operator_client):
    shop = ShopFactory(carriers=["DHL"])
    ProductFactory(shop=shop, sku="COFFEE-1KG", name="Coffee")
    ProductFactory(shop=shop, sku="MUG", name="Mug")
    order = order_in(shop, "confirmed", lines={"COFFEE-1KG": 2, "MUG": 1})

    page = operator_client.get(f"/staff/orders/{order.id}/ship")
    first = operator_client.post(
        f"/staff/orders/{order.id}/ship",
        {"carrier": "DHL", "tracking_number": "JD-0001", "line_0": "1", "line_1": "0"},
        follow=True,
    )
    after_first = Order.objects.get(pk=order.pk).status
    rest = operator_client.get(f"/staff/orders/{order.id}/ship")
    second = operator_client.post(
        f"/staff/orders/{order.id}/ship",
        {"carrier": "DHL", "tracking_number": "JD-0002"},  # the line fields left: all remaining
        follow=True,
    )

    assert [(f.label, f.initial) for f in page.context["form"].fields.values()][2:] == [
        ("Coffee (COFFEE-1KG)", 2),
        ("Mug (MUG)", 1),
    ]
    assert _messages(first) == ["Shipped with DHL, tracking number JD-0001."]
    assert after_first == "partially_shipped"
    assert [(f.label, f.initial) for f in rest.context["form"].fields.values()][2:] == [
        ("Coffee (COFFEE-1KG)", 1),
        ("Mug (MUG)", 1),
    ]
    assert _messages(second) == ["Shipped with DHL, tracking number JD-0002."]
    assert Order.objects.get(pk=order.pk).status == "shipped"
    assert [
        (parcel.tracking_number, sorted(parcel.lines.values_list("sku", "quantity")))
        for parcel in Shipment.objects.order_by("created_at")
    ] == [("JD-0001", [("COFFEE-1KG", 1)]), ("JD-0002", [("COFFEE-1KG", 1), ("MUG", 1)])]


def test_a_parcel_of_nothing_or_too_much_is_refused_on_the_form(operator_client):
    shop = ShopFactory(carriers=["DHL"])
    ProductFactory(shop=shop, sku="COFFEE-1KG")
    order = order_in(shop, "confirmed", lines={"COFFEE-1KG": 2})
    before = _saved(order)

    nothing = operator_client.post(
        f"/staff/orders/{order.id}/ship",
        {"carrier": "DHL", "tracking_number": "JD-0001", "line_0": "0"},
    )
    too_much = operator_client.post(
        f"/staff/orders/{order.id}/ship",
        {"carrier": "DHL", "tracking_number": "JD-0001", "line_0": "3"},
    )

    assert nothing.status_code == too_much.status_code == 200
    assert nothing.context["form"].non_field_errors() == ["Put at least one unit in the parcel."]
    assert too_much.context["form"].errors["line_0"]
    assert _saved(order) == before
    assert not Shipment.objects.exists()
