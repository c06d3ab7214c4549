"""The event machinery end to end, with a real Celery worker and beat on PostgreSQL and Redis."""

import uuid

import pytest
from django.db import transaction

from orderflow.events import publish
from orderflow.models import DeadLetter, Delivery, DeliveryAttempt, DeliveryStatus
from tests.fixtures import wait_for
from tests.probe.events import ProbePinged
from tests.probe.models import ProbeEffect

pytestmark = pytest.mark.django_db(transaction=True)


def ping(**fields) -> ProbePinged:
    event = ProbePinged(probe_id=uuid.uuid4(), shop_id=1, **fields)
    with transaction.atomic():
        publish(event, sequence=1)
    return event


def test_every_event_reaches_each_subscriber_exactly_once(event_workers):
    events = [ping() for _ in range(50)]

    wait_for(lambda: ProbeEffect.objects.count() == 100, what="100 effects", timeout=30)

    for name in ("record", "ordered"):
        effects = ProbeEffect.objects.filter(subscriber=name)
        assert sorted(str(e.probe_id) for e in effects) == sorted(str(e.probe_id) for e in events)
    assert Delivery.objects.filter(status=DeliveryStatus.DONE).count() == 100
