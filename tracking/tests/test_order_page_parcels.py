"""The staff order page names each parcel in the staff member's language (#16)."""

import re

import pytest
from django.urls import reverse

from orders import services as orders_services

from .conftest import CARRIER

pytestmark = pytest.mark.django_db

STAFF = orders_services.Actor(kind="staff", name="ana")
PARCEL = r"<li><span class=\"status status-(\w+)\">([^<]*)</span>"


@pytest.fixture
def two_parcels(place, settle):
    """An order whose mug left in DPUX00001 (then held by the carrier) and the rest in
    DPUX00002."""
    order = place(lines={"COFFEE-1KG": 2, "MUG": 1})
    settle()
    orders_services.shipment_create(
        order_id=order.id,
        shop=None,
        actor=STAFF,
        carrier=CARRIER,
        tracking_number="DPUX00001",
        lines=[orders_services.ShipmentLineInput(sku="MUG", quantity=1)],
    )
    orders_services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier=CARRIER, tracking_number="DPUX00002"
    )
    orders_services.shipment_report(
        carrier=CARRIER, event_id="e-1", tracking_number="DPUX00001", status="held"
    )
    settle()
    return order


def _blocks(client, order_id, **headers) -> str:
    response = client.get(reverse("tracking:order-blocks", args=[order_id]), **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_the_parcels_statuses_read_in_portuguese_and_english(staff_client, two_parcels):
    portuguese = _blocks(staff_client, two_parcels.id, HTTP_ACCEPT_LANGUAGE="pt-BR")
    english = _blocks(staff_client, two_parcels.id)

    assert re.findall(PARCEL, portuguese) == [
        ("held", "Retido pela transportadora"),
        ("in_transit", "Em trânsito"),
    ]
    assert re.findall(PARCEL, english) == [
        ("held", "Held by the carrier"),
        ("in_transit", "In transit"),
    ]
