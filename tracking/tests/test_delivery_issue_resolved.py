"""Staff clear an order from the delivery-exceptions queue by marking its parcel's exception
handled: a role-checked action on the order page, an event of its own through the outbox
(``shipment.issue_resolved``), which the tracking projection honours until the carrier's
next report. Everything is the real thing: services, outbox, relay, projector, pages."""

import pytest
from django.urls import reverse

from orderflow.models import OutboxEvent
from orders import services as orders_services
from orders.models import Shipment
from testkit.factories import STAFF
from tracking import queues
from tracking.live_status import live_status_get
from tracking.models import TrackedOrder, TrackingEntry
from tracking.payloads import public_order
from tracking.reactions import delivery_issue_of

from .conftest import CARRIER, staff_member

pytestmark = pytest.mark.django_db

NUMBER = "DP-0700"
QUEUE = "delivery-exceptions"


@pytest.fixture
def held(place, settle):
    """A shipped order whose one parcel the carrier holds, projected."""
    order = place()
    settle()
    orders_services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier=CARRIER, tracking_number=NUMBER
    )
    _report("held", "scan-1")
    settle()
    return order


def _report(status: str, event_id: str) -> None:
    orders_services.shipment_report(
        carrier=CARRIER,
        event_id=event_id,
        tracking_number=NUMBER,
        status=status,
        location="Porto",
        note="Kept at the post office",
    )


def _client(client, *roles: str):
    client.force_login(staff_member("-".join(roles) or "nobody", *roles))
    return client


def _url(order, parcel_id) -> str:
    return reverse("orders:parcel-issue-resolve", args=[order.id, parcel_id])


def _row(order) -> TrackedOrder:
    return TrackedOrder.objects.get(pk=order.id)


def _resolved_events(order) -> list[dict]:
    return list(
        OutboxEvent.objects.filter(aggregate_id=str(order.id), type="shipment.issue_resolved")
        .order_by("sequence")
        .values_list("data", flat=True)
    )


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_an_operator_marks_a_held_parcel_handled_and_the_order_leaves_the_queue(
    client, held, settle
):
    parcel = Shipment.objects.get(order_id=held.id)
    operator = _client(client, "operator")
    assert queues.row_queues(_row(held)) == [QUEUE]
    page = operator.get(reverse("tracking:order", args=[held.id])).content.decode()
    assert _url(held, parcel.id) in page

    response = operator.post(_url(held, parcel.id), {"note": "Customer collects on Monday"})
    settle()

    assert response.status_code == 302
    assert response["Location"] == reverse("tracking:order", args=[held.id]) + "#summary"
    [event] = _resolved_events(held)
    assert (event["issue"], event["note"], event["actor"], event["status"]) == (
        "held",
        "Customer collects on Monday",
        "staff:operator",
        "",
    )
    assert (event["shipment_id"], event["tracking_number"]) == (str(parcel.id), NUMBER)
    # the parcel keeps the carrier's status; the order leaves the queue
    parcel.refresh_from_db()
    assert (parcel.status, parcel.issue_resolved_by) == ("held", "staff:operator")
    row = _row(held)
    assert (row.status, row.delivery_issue) == ("shipped", "")
    assert queues.row_queues(row) == []
    assert not TrackedOrder.objects.filter(queues.queue_get(QUEUE).where, pk=held.id).exists()
    # a step of the staff's timeline, about that parcel; the customer does not see it
    step = TrackingEntry.objects.filter(order_id=held.id).order_by("sequence").last()
    assert (step.status, step.source, step.actor, step.note, step.public) == (
        "delivery_issue_resolved",
        "staff",
        "staff:operator",
        "Customer collects on Monday",
        False,
    )
    assert step.tracking_number == NUMBER
    page = operator.get(response["Location"]).content.decode()
    assert "The delivery exception of parcel DP-0700 is marked handled." in page
    assert _url(held, parcel.id) not in page


def test_the_customer_still_reads_the_carriers_news_once_staff_handled_it(client, held, settle):
    """Handled is staff's word: the order leaves their queue, but the carrier still holds
    the parcel, and the customer's page (and its pushes' payload) keeps saying so until the
    carrier's next news."""
    parcel = Shipment.objects.get(order_id=held.id)
    _client(client, "operator").post(_url(held, parcel.id), {"note": "Called the customer"})
    settle()
    assert queues.row_queues(_row(held)) == []

    client.logout()
    page = client.get(f"/track/{held.tracking_token}", HTTP_ACCEPT_LANGUAGE="en")

    assert page.status_code == 200
    assert page.context["view"]["status_label"] == "Held by the carrier"
    assert page.context["view"]["next_step"] == "Collect the parcel, or contact the shop."
    assert public_order(_row(held), live_status_get(held.id))["delivery_issue"] == "held"

    _report("in_transit", "scan-2")  # the carrier moves it on: the story of the hold ends
    settle()

    page = client.get(f"/track/{held.tracking_token}", HTTP_ACCEPT_LANGUAGE="en")
    assert page.context["view"]["status_label"] != "Held by the carrier"
    assert public_order(_row(held), live_status_get(held.id))["delivery_issue"] == ""


def test_the_carriers_next_bad_news_puts_the_order_back_in_the_queue(client, held, settle):
    parcel = Shipment.objects.get(order_id=held.id)
    _client(client, "operator").post(_url(held, parcel.id), {"note": "Called the customer"})
    settle()

    _report("held", "scan-2")
    settle()

    parcel.refresh_from_db()
    assert (parcel.issue_resolved_at, parcel.issue_resolved_by) == (None, "")
    assert _row(held).delivery_issue == "held"
    assert queues.row_queues(_row(held)) == [QUEUE]


@pytest.mark.parametrize(
    ("note", "words"),
    [
        ("", "Say what was done about the parcel"),
        ("   ", "Say what was done about the parcel"),
        ("x" * 501, "The note holds at most 500 characters."),
        ("Called\x00", "cannot be stored (NUL)"),
    ],
)
def test_a_bad_note_is_refused_and_changes_nothing(client, held, settle, note, words):
    parcel = Shipment.objects.get(order_id=held.id)

    response = _client(client, "operator").post(_url(held, parcel.id), {"note": note}, follow=True)
    settle()

    [message] = _messages(response)
    assert message.startswith("Not done: ")
    assert words in message
    assert _resolved_events(held) == []
    assert Shipment.objects.get(pk=parcel.id).issue_resolved_at is None
    assert _row(held).delivery_issue == "held"


def test_a_parcel_handled_already_or_not_in_trouble_is_refused(client, held, settle):
    parcel = Shipment.objects.get(order_id=held.id)
    operator = _client(client, "operator")
    operator.post(_url(held, parcel.id), {"note": "Called the customer"}, follow=True)

    again = operator.post(_url(held, parcel.id), {"note": "Again"}, follow=True)
    _report("in_transit", "scan-2")
    moving = operator.post(_url(held, parcel.id), {"note": "Nothing to do"}, follow=True)
    settle()

    assert _messages(again) == [
        "Not done: The parcel DP-0700 was already marked handled by staff:operator."
    ]
    assert _messages(moving) == [
        "Not done: The parcel DP-0700 is in transit: it has no delivery exception to handle."
    ]
    assert len(_resolved_events(held)) == 1


def test_the_refusal_reads_in_the_staff_members_language(client, held):
    parcel = Shipment.objects.get(order_id=held.id)
    operator = _client(client, "operator")
    operator.cookies["django_language"] = "pt-br"

    refused = operator.post(_url(held, parcel.id), {"note": ""}, follow=True)

    assert _messages(refused) == [
        "Não feito: Diga o que foi feito com o pacote; a linha do tempo do pedido guarda isso."
    ]


def test_a_viewer_may_not_and_sees_no_form(client, held, settle):
    parcel = Shipment.objects.get(order_id=held.id)
    viewer = _client(client, "viewer")

    page = viewer.get(reverse("tracking:order", args=[held.id])).content.decode()
    response = viewer.post(_url(held, parcel.id), {"note": "Called the customer"})
    settle()

    assert _url(held, parcel.id) not in page
    assert response.status_code == 403
    assert _resolved_events(held) == []
    assert _row(held).delivery_issue == "held"


def test_a_parcel_of_another_order_is_not_found(client, held, place, settle):
    other = place()
    parcel = Shipment.objects.get(order_id=held.id)

    response = _client(client, "operator").post(_url(other, parcel.id), {"note": "x"})

    assert response.status_code == 404
    assert _resolved_events(held) == []


def test_a_handled_parcel_leaves_the_orders_issue_to_its_other_parcels():
    parcels = [
        {"id": "a", "status": "returned_to_sender", "issue_resolved": True},
        {"id": "b", "status": "held"},
        {"id": "c", "status": "delivered"},
    ]

    assert delivery_issue_of(parcels, news="") == "held"
    assert delivery_issue_of(parcels[:1] + parcels[2:], news="") == ""
