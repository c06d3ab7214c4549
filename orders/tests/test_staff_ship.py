"""The staff ship page: only the shop's carriers, and a refused parcel is a message."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from orders import services
from orders.models import Order

from .factories import STAFF, ProductFactory, ShopFactory, order_in

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
