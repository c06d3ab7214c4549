"""An order's delivery issue reflects every parcel (#16): news about one parcel clears the
order's issue only when no other parcel is held, failed or on its way back."""

import uuid

import pytest
from django.db import transaction

from tracking import queues
from tracking.models import TrackedOrder
from tracking.payloads import board_row
from tracking.reactions import delivery_issue_of
from tracking.services.projection import tracking_project

from .feed import Story

ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
FIRST, SECOND = str(uuid.uuid4()), str(uuid.uuid4())


def _parcel(told, type_, status, parcel, number, **facts):
    return told.order_event(
        type_,
        status,
        "carrier:demo-post" if type_ != "shipment.dispatched" else "staff:ana",
        carrier="demo-post",
        tracking_number=number,
        shipment_id=parcel,
        lines=[{"sku": "MUG" if parcel == FIRST else "COFFEE", "quantity": 1, "name": "x"}],
        **facts,
    )


def first_leaves(told):
    return _parcel(told, "shipment.dispatched", "partially_shipped", FIRST, "DP-1")


def first_held(told):
    return _parcel(told, "shipment.held", "", FIRST, "DP-1", location="Porto", note="Collect")


def first_returned(told):
    return _parcel(
        told, "shipment.returned_to_sender", "", FIRST, "DP-1", location="Porto", note="Back"
    )


def first_in_transit(told):
    return _parcel(told, "shipment.in_transit", "", FIRST, "DP-1", location="Lisboa", note="")


def second_leaves(told):
    return _parcel(told, "shipment.dispatched", "shipped", SECOND, "DP-2")


def second_failed(told):
    return _parcel(
        told, "shipment.delivery_failed", "", SECOND, "DP-2", location="Braga", note="Nobody in"
    )


def second_delivered(told):
    return _parcel(told, "shipment.delivered", "", SECOND, "DP-2")


@pytest.fixture
def story(place, django_capture_on_commit_callbacks):
    """Project the steps' events, one batch per step (as polls and pushes arrive)."""

    def run(*steps):
        told = Story(place())
        for step in steps:
            made = step(told) if callable(step) else getattr(told, step)()
            with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
                tracking_project(events=made if isinstance(made, list) else [made])
        return told

    return run


def _row(told) -> TrackedOrder:
    return TrackedOrder.objects.get(pk=told.order.id)


def _in_exceptions_queue(told) -> bool:
    queue = next(q for q in queues.QUEUES if q.slug == "delivery-exceptions")
    return TrackedOrder.objects.filter(queue.where, pk=told.order.id).exists()


def test_a_second_parcel_leaving_keeps_the_first_ones_hold(client, story):
    told = story("to_confirmed", first_leaves, first_held, second_leaves)

    row = _row(told)
    assert (row.status, row.delivery_issue) == ("shipped", "held")
    assert board_row(row)["queues"] == ["delivery-exceptions"]
    assert _in_exceptions_queue(told)
    page = client.get(f"/track/{told.order.tracking_token}", **ENGLISH).context
    assert page["view"]["status_label"] == "Held by the carrier"


def test_the_second_parcel_delivered_keeps_the_first_one_going_back(story):
    told = story("to_confirmed", first_leaves, second_leaves, first_returned, second_delivered)

    assert _row(told).delivery_issue == "returned_to_sender"
    assert _in_exceptions_queue(told)


def test_the_issue_clears_only_when_no_parcel_is_in_trouble(story):
    told = story("to_confirmed", first_leaves, first_held, second_leaves, second_failed)
    # the newest bad news is told
    assert _row(told).delivery_issue == "delivery_failed"

    told = story(
        "to_confirmed", first_leaves, first_held, second_leaves, second_failed, second_delivered
    )
    # the second one arrived: the first one is still held
    assert _row(told).delivery_issue == "held"

    told = story(
        "to_confirmed",
        first_leaves,
        first_held,
        second_leaves,
        second_failed,
        second_delivered,
        first_in_transit,
    )
    assert _row(told).delivery_issue == ""
    assert not _in_exceptions_queue(told)


def test_a_batch_with_several_parcels_news_ends_where_one_by_one_would(
    place, django_capture_on_commit_callbacks
):
    told = Story(place())
    events = [
        *told.to_confirmed(),
        first_leaves(told),
        first_held(told),
        second_leaves(told),
        second_delivered(told),
    ]

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        tracking_project(events=events)

    assert _row(told).delivery_issue == "held"


def test_the_gravest_issue_of_the_other_parcels_is_told():
    parcels = [{"status": "held"}, {"status": "returned_to_sender"}, {"status": "delivered"}]

    assert delivery_issue_of(parcels, news="") == "returned_to_sender"
    assert delivery_issue_of(parcels, news="delivery_failed") == "delivery_failed"
    assert delivery_issue_of([{"status": "in_transit"}], news="") == ""
