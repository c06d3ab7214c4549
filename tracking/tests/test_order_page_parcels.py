"""The staff order page names each parcel in the staff member's language, and the timeline
says which parcel each of its steps is about (#16)."""

import json
import re

import pytest
from django.urls import reverse

from orders import services as orders_services
from orders.models import Shipment
from tracking.models import TrackingEntry

from .api.test_order_tracking import client_for
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


def test_each_parcel_step_names_its_parcel_and_no_other_step_does(two_parcels):
    parcels = dict(Shipment.objects.values_list("tracking_number", "id"))

    entries = list(
        TrackingEntry.objects.filter(order_id=two_parcels.id).values_list(
            "event_type", "shipment_id", "tracking_number"
        )
    )

    assert [entry for entry in entries if entry[0].startswith("shipment.")] == [
        ("shipment.dispatched", parcels["DPUX00001"], "DPUX00001"),
        ("shipment.dispatched", parcels["DPUX00002"], "DPUX00002"),
        ("shipment.held", parcels["DPUX00001"], "DPUX00001"),
    ]
    assert {entry[1:] for entry in entries if not entry[0].startswith("shipment.")} == {(None, "")}


def test_the_staff_timeline_says_which_parcel_in_the_staff_members_language(
    staff_client, two_parcels
):
    page = staff_client.get(
        reverse("tracking:order", args=[two_parcels.id]), HTTP_ACCEPT_LANGUAGE="pt-BR"
    ).content.decode()
    data = json.loads(re.search(r'id="timeline-data"[^>]*>(.*?)</script>', page).group(1))

    steps = [
        (entry["status"], entry["tracking_number"])
        for entry in data["entries"]
        if entry["tracking_number"]
    ]
    assert steps == [
        ("partially_shipped", "DPUX00001"),
        ("shipped", "DPUX00002"),
        ("held", "DPUX00001"),
    ]
    assert 'data-text-parcel="Pacote {tracking_number}"' in page


def test_the_tracking_api_names_each_steps_parcel(shop, two_parcels):
    parcels = {str(i): n for n, i in Shipment.objects.values_list("tracking_number", "id")}

    history = client_for(shop).get(f"/api/v1/orders/{two_parcels.id}/tracking").json()["history"]

    named = [(e["status"], parcels.get(e["shipment_id"]), e["tracking_number"]) for e in history]
    assert [step for step in named if step[2]] == [
        ("partially_shipped", "DPUX00001", "DPUX00001"),
        ("shipped", "DPUX00002", "DPUX00002"),
        ("held", "DPUX00001", "DPUX00001"),
    ]
    assert all(step[1] is None for step in named if not step[2])
