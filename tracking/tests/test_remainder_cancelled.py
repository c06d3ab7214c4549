"""The rest of a partly shipped order cancelled, on the timeline and the customer's page."""

import pytest

from orders import services as order_services
from orders.services.dispatch import ShipmentLineInput, shipment_create
from orders.services.remainder import order_cancel_remainder
from tracking.models import TrackedOrder, TrackingEntry

pytestmark = pytest.mark.django_db

STAFF = order_services.Actor(kind="staff", name="ana")
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
PORTUGUESE = {"HTTP_ACCEPT_LANGUAGE": "pt-BR,pt;q=0.9"}


@pytest.fixture
def rest_cancelled(place, settle):
    """A paid order of 1 x COFFEE-1KG and 1 x MUG: the coffee left, the mug was cancelled."""
    order = place(lines={"COFFEE-1KG": 1, "MUG": 1})
    settle()
    shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="demo-post",
        tracking_number="DP-1234",
        lines=[ShipmentLineInput("COFFEE-1KG", 1)],
    )
    order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF, reason="Sold out")
    settle()
    return order


def test_staff_read_what_will_not_ship_the_refund_and_why(rest_cancelled):
    entry = TrackingEntry.objects.get(order_id=rest_cancelled.pk, status="remainder_cancelled")

    assert (entry.source, entry.actor, entry.public) == ("staff", "staff:ana", True)
    assert entry.note == "Not shipped, cancelled: 1 x MUG; 9.90 EUR refunded; Sold out"
    assert TrackedOrder.objects.get(pk=rest_cancelled.pk).status == "shipped"


def test_the_customers_page_says_the_rest_was_cancelled_in_their_language(client, rest_cancelled):
    def labels(headers) -> list[str]:
        page = client.get(f"/track/{rest_cancelled.tracking_token}", **headers)
        return [step["label"] for step in page.context["steps"]]

    assert "The rest of your order was cancelled" in labels(ENGLISH)
    assert "O restante do seu pedido foi cancelado" in labels(PORTUGUESE)
