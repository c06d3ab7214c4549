"""A parcel the carrier holds or sends back (#16): the order's history, the customer's page
in both languages, the staff board's row and its delivery-exceptions queue."""

import pytest
from django.db import transaction

from tracking import queues
from tracking.models import TrackedOrder, TrackingEntry
from tracking.payloads import board_row
from tracking.services.projection import tracking_project

from .feed import Story

ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
PORTUGUESE = {"HTTP_ACCEPT_LANGUAGE": "pt-BR,pt;q=0.9"}


@pytest.fixture
def story(place, django_capture_on_commit_callbacks):
    def run(*steps, order=None):
        told = Story(order or place())
        events = []
        for step in steps:
            made = getattr(told, step)()
            events += made if isinstance(made, list) else [made]
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            tracking_project(events=events)
        return told

    return run


def view(client, order, headers) -> dict:
    response = client.get(f"/track/{order.tracking_token}", **headers)
    assert response.status_code == 200
    return response.context


def test_a_held_parcel_is_a_carrier_step_with_where_and_why(story):
    told = story("to_confirmed", "shipped", "held")

    entry = TrackingEntry.objects.filter(order_id=told.order.id).order_by("sequence").last()
    assert (entry.status, entry.source, entry.location, entry.note) == (
        "held",
        "carrier",
        "Porto, Rua das Flores 12",
        "Kept at the post office for collection",
    )
    row = TrackedOrder.objects.get(pk=told.order.id)
    assert (row.status, row.delivery_issue) == ("shipped", "held")


def test_a_held_parcel_tells_the_customer_to_collect_it_or_write_to_the_shop(client, story):
    told = story("to_confirmed", "shipped", "held")

    english = view(client, told.order, ENGLISH)
    portuguese = view(client, told.order, PORTUGUESE)

    assert english["view"]["status_label"] == "Held by the carrier"
    assert english["view"]["sentences"] == [
        "demo-post is holding your parcel instead of delivering it.",
        "The latest step below says where and why, when the carrier said: you can collect "
        "it there, or write to Demo Coffee if you need help or a change.",
    ]
    assert english["view"]["next_step"] == "Collect the parcel, or contact the shop."
    assert english["view"]["tone"] == "bad"
    last = english["steps"][-1]
    assert (last["label"], last["location_text"], last["note"]) == (
        "Held by the carrier",
        "Location: Porto, Rua das Flores 12",
        "Kept at the post office for collection",
    )
    assert portuguese["view"]["status_label"] == "Retido pela transportadora"
    assert portuguese["view"]["sentences"][0] == (
        "A transportadora demo-post reteve seu pacote em vez de entregá-lo."
    )
    assert "escrever para a loja Demo Coffee" in portuguese["view"]["sentences"][1]
    assert portuguese["view"]["next_step"] == "Retire o pacote ou fale com a loja."
    assert portuguese["steps"][-1]["label"] == "Retido pela transportadora"


def test_a_returned_parcel_says_it_goes_back_and_the_shop_will_contact_them(client, story):
    told = story("to_confirmed", "shipped", "returned_to_sender")

    english = view(client, told.order, ENGLISH)
    portuguese = view(client, told.order, PORTUGUESE)

    assert english["view"]["status_label"] == "Going back to the shop"
    assert english["view"]["sentences"] == [
        "demo-post is sending your parcel back to Demo Coffee.",
        "Demo Coffee will contact you about a refund or a new delivery.",
    ]
    assert english["view"]["next_step"] == (
        "The shop contacts you about a refund or a new delivery."
    )
    assert english["view"]["tone"] == "bad"
    assert english["steps"][-1]["label"] == "Going back to the shop"
    assert portuguese["view"]["status_label"] == "Voltando para a loja"
    assert portuguese["view"]["sentences"] == [
        "A transportadora demo-post está devolvendo seu pacote à loja Demo Coffee.",
        "A loja Demo Coffee entrará em contato com você sobre um reembolso ou uma nova entrega.",
    ]
    assert portuguese["view"]["next_step"] == (
        "A loja entra em contato com você sobre um reembolso ou uma nova entrega."
    )


def test_a_held_parcel_delivered_afterwards_ends_the_bad_news(client, story):
    told = story("to_confirmed", "shipped", "held", "delivered")

    english = view(client, told.order, ENGLISH)

    assert english["view"]["status_label"] == "Delivered"
    assert english["view"]["tone"] == "good"
    assert TrackedOrder.objects.get(pk=told.order.id).delivery_issue == ""


@pytest.mark.parametrize(
    ("step", "label"),
    [("held", "Held by the carrier"), ("returned_to_sender", "Returned to sender")],
)
def test_the_board_row_names_the_exception_and_is_in_the_delivery_exceptions_queue(
    story, step, label
):
    told = story("to_confirmed", "shipped", step)

    row = board_row(TrackedOrder.objects.get(pk=told.order.id))

    assert (row["delivery_issue"], row["delivery_issue_label"]) == (step, label)
    assert row["queues"] == ["delivery-exceptions"]
    queue = next(q for q in queues.QUEUES if q.slug == "delivery-exceptions")
    assert list(TrackedOrder.objects.filter(queue.where).values_list("order_id", flat=True)) == [
        told.order.id
    ]


def _cancelled_parcel(place, capture):
    told = Story(place())
    parcel = {
        "carrier": "ups",
        "tracking_number": "1ZA82D672031716786",
        "shipment_id": "5f0c1d6e-8a8e-4b41-9d0e-3a2b8f1c2d3e",
        "lines": [{"sku": "MUG", "name": "Mug", "quantity": 1}],
    }
    events = [
        *told.to_confirmed(),
        told.order_event("shipment.dispatched", "shipped", "staff:ana", **parcel),
        told.order_event(
            "shipment.cancelled",
            "",
            "carrier:ups",
            **parcel,
            location="Newark, NJ, 07101, US",
            note="The request for this package was cancelled.",
        ),
    ]
    with capture(execute=True), transaction.atomic():
        tracking_project(events=events)
    return told


def test_a_parcel_the_carrier_cancelled_says_it_never_left_in_both_languages(
    client, place, django_capture_on_commit_callbacks
):
    told = _cancelled_parcel(place, django_capture_on_commit_callbacks)

    english = view(client, told.order, ENGLISH)
    portuguese = view(client, told.order, PORTUGUESE)

    assert english["view"]["status_label"] == "Cancelled by the carrier"
    assert english["view"]["sentences"] == [
        "ups cancelled the shipment of your parcel: it has not left.",
        "Demo Coffee will send it again or contact you about a refund.",
    ]
    assert english["view"]["next_step"] == (
        "The shop sends it again, or contacts you about a refund."
    )
    assert english["view"]["tone"] == "bad"
    last = english["steps"][-1]
    assert (last["label"], last["note"]) == (
        "Cancelled by the carrier",
        "The request for this package was cancelled.",
    )
    assert [p["status_label"] for p in english["view"]["parcels"]] == ["Cancelled by the carrier"]
    assert portuguese["view"]["status_label"] == "Cancelado pela transportadora"
    assert portuguese["view"]["sentences"] == [
        "A transportadora ups cancelou o envio do seu pacote: ele não saiu.",
        "A loja Demo Coffee vai enviá-lo de novo ou entrar em contato com você sobre um reembolso.",
    ]
    assert portuguese["view"]["next_step"] == (
        "A loja envia de novo ou entra em contato com você sobre um reembolso."
    )


def test_a_cancelled_parcel_is_a_delivery_exception_for_staff(
    place, django_capture_on_commit_callbacks
):
    told = _cancelled_parcel(place, django_capture_on_commit_callbacks)

    tracked = TrackedOrder.objects.get(pk=told.order.id)
    row = board_row(tracked)

    assert (tracked.status, tracked.delivery_issue) == ("shipped", "cancelled")
    assert [parcel["status"] for parcel in tracked.parcels] == ["cancelled"]
    assert row["queues"] == ["delivery-exceptions"]
    assert row["delivery_issue_label"] == "Cancelled by the carrier"
    entry = TrackingEntry.objects.filter(order_id=told.order.id).order_by("sequence").last()
    assert (entry.status, entry.source) == ("parcel_cancelled", "carrier")
