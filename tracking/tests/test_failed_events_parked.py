"""The failed event handling page shows projectors' parked events and replays them."""

import pytest

from orderflow.models import ParkedEvent
from orderflow.tests.projector_probe import applied, fix, park_one, surface_projector

from .conftest import staff_member

__all__ = ["surface_projector"]

PAGE = "/staff/failed-events"


@pytest.fixture
def parked(db, surface_projector) -> ParkedEvent:
    return park_one()


def test_lists_parked_events_with_their_projector_and_error(staff_client, parked):
    response = staff_client.get(PAGE)

    assert response.status_code == 200
    assert [p.pk for p in response.context["parked"]] == [parked.pk]
    assert response.context["parked_total"] == 1
    assert b"test.surfaces" in response.content
    assert b"is broken" in response.content
    assert "test.surfaces" in response.context["subscribers"]


def test_the_projector_filter_selects_parked_events(staff_client, parked):
    mine = staff_client.get(PAGE, {"subscriber": "test.surfaces"})
    other = staff_client.get(PAGE, {"subscriber": "orders.reserve_stock_on_order_placed"})
    other_shop = staff_client.get(PAGE, {"shop": "2"})

    assert [p.pk for p in mine.context["parked"]] == [parked.pk]
    assert other.context["parked"] == []
    assert other_shop.context["parked"] == []


def test_replays_the_chosen_parked_event_once_fixed(staff_client, parked):
    fix()

    response = staff_client.post(
        PAGE, {"replay": "selected", "parked": [str(parked.pk)]}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [
        "Replayed 1 parked event; their projectors applied them again."
    ]
    parked.refresh_from_db()
    assert parked.replayed_by == "staff:ana"
    assert parked.replayed_at is not None
    assert applied(parked)
    assert response.context["parked"] == []  # a replayed one is no longer listed


def test_a_replay_that_fails_again_says_so_and_stays_parked(staff_client, parked):
    response = staff_client.post(PAGE, {"replay": "all"}, follow=True)

    assert [str(m) for m in response.context["messages"]] == [
        "Replayed 0 parked events; their projectors applied them again.",
        "1 parked event failed again and stays parked: see the error shown.",
    ]
    parked.refresh_from_db()
    assert parked.replayed_at is None
    assert parked.attempts == 2
    assert not applied(parked)


def test_a_viewer_sees_parked_events_but_cannot_replay_them(client, parked):
    client.force_login(staff_member("vera", "viewer"))

    page = client.get(PAGE)
    refused = client.post(PAGE, {"replay": "selected", "parked": [str(parked.pk)]})

    assert [p.pk for p in page.context["parked"]] == [parked.pk]
    assert b'name="parked"' not in page.content
    assert refused.status_code == 403
    parked.refresh_from_db()
    assert parked.replayed_at is None
