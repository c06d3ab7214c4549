import time

from django.core.cache import cache

from orderflow.events import Envelope, PermanentError, subscriber

from .events import ProbeNoop, ProbePinged
from .models import ProbeEffect, ProbeSwitch

STARTED_KEY = "probe:started:{event_id}"


def _record(event: ProbePinged, envelope: Envelope, name: str) -> None:
    ProbeEffect.objects.create(
        event_id=envelope.event_id,
        subscriber=name,
        probe_id=event.probe_id,
        sequence=envelope.sequence,
        attempt=envelope.attempt,
        correlation_id=envelope.correlation_id,
    )


@subscriber(ProbePinged)
def record_on_probe_pinged(event: ProbePinged, envelope: Envelope) -> None:
    if event.behaviour == "flaky" and envelope.attempt <= event.fail_times:
        raise RuntimeError(f"flaky failure on attempt {envelope.attempt}")
    if event.behaviour == "broken" and not ProbeSwitch.objects.filter(name="fixed", on=True):
        raise RuntimeError("broken until the 'fixed' switch is on")
    if event.behaviour == "permanent":
        raise PermanentError("this event can never be handled")
    if event.behaviour == "slow":
        cache.set(STARTED_KEY.format(event_id=envelope.event_id), envelope.attempt, 300)
        time.sleep(event.sleep_seconds)
    _record(event, envelope, "record")


@subscriber(ProbePinged, ordered=True)
def record_in_order_on_probe_pinged(event: ProbePinged, envelope: Envelope) -> None:
    _record(event, envelope, "ordered")


@subscriber(ProbeNoop)
def nothing_on_probe_noop(event: ProbeNoop, envelope: Envelope) -> None:
    """Do nothing: what is measured is the machinery around the handler."""
