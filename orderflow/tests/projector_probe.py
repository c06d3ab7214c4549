"""A projector for the tests of the surfaces that show and replay parked events.

``surface_projector`` registers it for one test; ``park_one`` publishes a probe event the
projector cannot apply until the probe switch "fixed" is on, runs the projector, and
returns the ``ParkedEvent`` it left.
"""

import uuid
from collections.abc import Iterator

import pytest
from django.db import transaction

from orderflow.events import FeedEvent, publish
from orderflow.events.projectors import _unregister, get_projector, projector, projector_pass
from orderflow.events.relay import relay_batch
from orderflow.models import ParkedEvent
from tests.probe.events import ProbePinged
from tests.probe.models import ProbeEffect, ProbeSwitch

NAME = "test.surfaces"


def apply(batch: list[FeedEvent]) -> None:
    """Record each event once (by event id), unless it is broken and not fixed yet."""
    for event in batch:
        if event.data.get("behaviour") == "broken" and not ProbeSwitch.objects.filter(
            name="fixed", on=True
        ):
            raise RuntimeError(f"event at {event.position} is broken")
    done = set(
        ProbeEffect.objects.filter(
            subscriber=NAME, event_id__in=[e.event_id for e in batch]
        ).values_list("event_id", flat=True)
    )
    ProbeEffect.objects.bulk_create(
        ProbeEffect(
            event_id=e.event_id,
            subscriber=NAME,
            probe_id=e.data["probe_id"],
            sequence=e.sequence,
            attempt=e.attempt,
            correlation_id=e.correlation_id,
        )
        for e in batch
        if uuid.UUID(e.event_id) not in done
    )


@pytest.fixture
def surface_projector() -> Iterator[str]:
    projector(NAME, event_types=["probe.pinged"], max_attempts=1)(apply)
    yield NAME
    _unregister(NAME)


def park_one(*, shop_id: int = 1) -> ParkedEvent:
    with transaction.atomic():
        row = publish(ProbePinged(probe_id=uuid.uuid4(), shop_id=shop_id, behaviour="broken"))
    while relay_batch():
        pass
    while projector_pass(get_projector(NAME)).advanced:
        pass
    return ParkedEvent.objects.get(projector=NAME, event_id=row.event_id)


def fix() -> None:
    ProbeSwitch.objects.update_or_create(name="fixed", defaults={"on": True})


def applied(parked: ParkedEvent) -> bool:
    return ProbeEffect.objects.filter(subscriber=NAME, event_id=parked.event_id).exists()
