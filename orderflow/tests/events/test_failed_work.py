"""Support's filters on failed work: dead letters (subscribers) and parked events (projectors)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.maintenance import dead_letters
from orderflow.events.projectors import parked_events
from orderflow.events.relay import relay_batch
from orderflow.tests.projector_probe import NAME, park_one, surface_projector
from orderflow.tests.test_admin import ORDERED, RECORD, publish_one
from tests.probe.events import ProbePinged

__all__ = ["surface_projector"]

pytestmark = pytest.mark.django_db

LATER = timedelta(minutes=1)


@pytest.fixture
def dead() -> dict[str, int]:
    """Two dead letters, one of shop 1 and one of shop 2."""
    ids = {}
    for shop_id in (1, 2):
        ids[str(shop_id)] = publish_one(
            ProbePinged(probe_id=uuid.uuid4(), shop_id=shop_id, behaviour="permanent")
        ).event_id
    relay_batch()
    for delivery in claim_batch():
        run_delivery(delivery)
    return ids


@pytest.mark.parametrize(
    ("filters", "shops"),
    [
        ({}, ["1", "2"]),
        ({"subscriber": RECORD}, ["1", "2"]),
        ({"subscriber": ORDERED}, []),
        ({"event_type": "probe.pinged"}, ["1", "2"]),
        ({"event_type": "probe.noop"}, []),
        ({"tenant_id": "2"}, ["2"]),
        ({"since": "past"}, ["1", "2"]),
        ({"since": "future"}, []),
    ],
)
def test_dead_letters_filter_by_subscriber_type_shop_and_time(dead, filters, shops):
    since = {"past": timezone.now() - LATER, "future": timezone.now() + LATER}
    if "since" in filters:
        filters = {"since": since[filters["since"]]}

    found = [letter.event.tenant_id for letter in dead_letters(**filters)]

    assert found == shops


@pytest.mark.parametrize(
    ("filters", "shops"),
    [
        ({}, ["1", "2"]),
        ({"projector": NAME}, ["1", "2"]),
        ({"projector": "tracking"}, []),
        ({"event_type": "probe.pinged"}, ["1", "2"]),
        ({"event_type": "probe.noop"}, []),
        ({"tenant_id": "1"}, ["1"]),
        ({"since": "past"}, ["1", "2"]),
        ({"since": "future"}, []),
    ],
)
def test_parked_events_filter_by_projector_type_shop_and_time(surface_projector, filters, shops):
    park_one(shop_id=1)
    park_one(shop_id=2)
    since = {"past": timezone.now() - LATER, "future": timezone.now() + LATER}
    if "since" in filters:
        filters = {"since": since[filters["since"]]}

    found = [parked.event.tenant_id for parked in parked_events(**filters)]

    assert found == shops
