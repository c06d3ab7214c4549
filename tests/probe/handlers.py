import time

from django.core.cache import cache
from django.db import connection

from orderflow.events import Envelope, PermanentError, Priority, publish, subscriber

from .events import ProbeChained, ProbeNoop, ProbePinged, ProbeUrgent
from .models import ProbeEffect, ProbeSwitch

STARTED_KEY = "probe:started:{probe_id}"
RELEASE_KEY = "probe:release:{probe_id}"
#: a held handler nobody releases fails after this long instead of holding a worker for ever
HOLD_TIMEOUT_SECONDS = 300
COMMIT_MODE_KEY = "probe:commit-mode:{event_id}"


def _record(event: ProbePinged, envelope: Envelope, name: str) -> None:
    ProbeEffect.objects.create(
        event_id=envelope.event_id,
        subscriber=name,
        probe_id=event.probe_id,
        sequence=envelope.sequence,
        attempt=envelope.attempt,
        correlation_id=envelope.correlation_id,
    )


def _wait_for_release(probe_id) -> None:
    """Wait, bounded, until the test sets the probe's release key."""
    deadline = time.monotonic() + HOLD_TIMEOUT_SECONDS
    while not cache.get(RELEASE_KEY.format(probe_id=probe_id)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"probe {probe_id} was held and never released")
        time.sleep(0.01)


@subscriber(ProbePinged)
def record_on_probe_pinged(event: ProbePinged, envelope: Envelope) -> None:
    if event.behaviour == "flaky" and envelope.attempt <= event.fail_times:
        raise RuntimeError(f"flaky failure on attempt {envelope.attempt}")
    if event.behaviour == "broken" and not ProbeSwitch.objects.filter(name="fixed", on=True):
        raise RuntimeError("broken until the 'fixed' switch is on")
    if event.behaviour == "permanent":
        raise PermanentError("this event can never be handled")
    if event.behaviour == "held" and envelope.attempt == 1:
        # held the first time only, until the test releases it, so that a test can kill the
        # worker mid-handler however slow the machine is; the redelivery completes at once
        cache.set(STARTED_KEY.format(probe_id=event.probe_id), envelope.attempt, 300)
        _wait_for_release(event.probe_id)
    _record(event, envelope, "record")


@subscriber(ProbePinged, ordered=True)
def record_in_order_on_probe_pinged(event: ProbePinged, envelope: Envelope) -> None:
    _record(event, envelope, "ordered")


@subscriber(ProbeNoop)
def nothing_on_probe_noop(event: ProbeNoop, envelope: Envelope) -> None:
    """Do nothing: what is measured is the machinery around the handler."""


@subscriber(ProbeChained)
def publish_noop_on_probe_chained(event: ProbeChained, envelope: Envelope) -> None:
    """Publish ``probe.noop`` for the same probe: its causation is the handled event."""
    publish(ProbeNoop(probe_id=event.probe_id))


@subscriber(ProbeUrgent, priority=Priority.HIGH, synchronous_commit=False)
def note_commit_mode_on_probe_urgent(event: ProbeUrgent, envelope: Envelope) -> None:
    """Note how this handler's transaction will commit (PostgreSQL's synchronous_commit)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        mode = cursor.fetchone()[0]
    cache.set(COMMIT_MODE_KEY.format(event_id=envelope.event_id), mode, 300)
