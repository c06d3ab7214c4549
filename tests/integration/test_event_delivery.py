"""The event machinery end to end, with a real Celery worker and beat on PostgreSQL and Redis."""

import threading
import uuid
from io import StringIO

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction

from orderflow.events import publish
from orderflow.events.lane import run_delivery
from orderflow.events.pump import drain
from orderflow.events.relay import relay_batch
from orderflow.models import DeadLetter, Delivery, DeliveryAttempt, DeliveryStatus
from tests.fixtures import wait_for
from tests.probe.events import ProbePinged
from tests.probe.handlers import STARTED_KEY
from tests.probe.models import ProbeEffect, ProbeSwitch

pytestmark = pytest.mark.django_db(transaction=True)


def ping(**fields) -> ProbePinged:
    event = ProbePinged(probe_id=uuid.uuid4(), shop_id=1, **fields)
    with transaction.atomic():
        publish(event, sequence=1)
    return event


def test_every_event_reaches_each_subscriber_exactly_once(event_workers):
    events = [ping() for _ in range(50)]

    wait_for(lambda: ProbeEffect.objects.count() == 100, what="100 effects", timeout=30)
    # the done-marks follow their batch's effects: wait for them too
    wait_for(
        lambda: Delivery.objects.filter(status=DeliveryStatus.DONE).count() == 100,
        what="100 done-marks",
    )

    for name in ("record", "ordered"):
        effects = ProbeEffect.objects.filter(subscriber=name)
        assert sorted(str(e.probe_id) for e in effects) == sorted(str(e.probe_id) for e in events)
    assert Delivery.objects.filter(status=DeliveryStatus.DONE).count() == 100


def test_flaky_handler_is_retried_with_backoff_and_takes_effect_once(event_workers):
    event = ping(behaviour="flaky", fail_times=2)

    wait_for(
        lambda: ProbeEffect.objects.filter(probe_id=event.probe_id, subscriber="record").exists(),
        what="the flaky handler's effect",
    )

    effect = ProbeEffect.objects.get(probe_id=event.probe_id, subscriber="record")
    assert effect.attempt == 3
    delivery = Delivery.objects.get(subscriber="probe.record_on_probe_pinged")
    wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DONE)
    failures = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(f.number, f.retryable) for f in failures] == [(1, True), (2, True)]
    # each retry waited for its scheduled time (base 0.2 s, doubling, with jitter)
    assert all(f.next_attempt_at > f.failed_at for f in failures)
    assert (
        failures[1].next_attempt_at - failures[1].failed_at
        >= (failures[0].next_attempt_at - failures[0].failed_at) / 2
    )


def test_always_failing_handler_becomes_dead_letter_and_replay_delivers_once(event_workers):
    event = ping(behaviour="broken")

    letter = wait_for(
        lambda: DeadLetter.objects.filter(subscriber="probe.record_on_probe_pinged").first(),
        what="a dead letter",
    )
    assert letter.attempts == 4  # EVENTS_MAX_ATTEMPTS in the worker
    assert DeliveryAttempt.objects.filter(delivery=letter).count() == 4
    assert "broken" in letter.last_error
    assert not ProbeEffect.objects.filter(probe_id=event.probe_id, subscriber="record").exists()

    ProbeSwitch.objects.create(name="fixed", on=True)
    call_command(
        "replay_dead_letters", "--subscriber", "probe.record_on_probe_pinged", stdout=StringIO()
    )

    wait_for(
        lambda: ProbeEffect.objects.filter(probe_id=event.probe_id, subscriber="record").exists(),
        what="the replayed effect",
    )
    wait_for(lambda: Delivery.objects.get(pk=letter.pk).status == DeliveryStatus.DONE)
    assert ProbeEffect.objects.filter(probe_id=event.probe_id, subscriber="record").count() == 1
    assert not DeadLetter.objects.exists()


def test_unrecoverable_error_is_dead_letter_at_once(event_workers):
    ping(behaviour="permanent")

    letter = wait_for(lambda: DeadLetter.objects.first(), what="a dead letter")

    assert letter.attempts == 1
    assert DeliveryAttempt.objects.get(delivery=letter).retryable is False


# a short lease: the killed worker's claim must come back within the test's patience
@pytest.mark.parametrize(
    "event_workers", [{"EVENTS_LEASE_SECONDS": "4"}], indirect=True, ids=["lease-4s"]
)
def test_worker_killed_mid_handler_loses_nothing_and_handles_once(event_workers):
    # the handler is held (never released) until the kill: no race with its own end
    event = ping(behaviour="held")
    wait_for(
        lambda: cache.get(STARTED_KEY.format(probe_id=event.probe_id)),
        what="the handler to start",
    )

    event_workers.worker.kill()  # SIGKILL the worker and its pool, mid-handler
    assert not ProbeEffect.objects.filter(subscriber="record").exists()
    event_workers.restart_worker()

    effect = wait_for(
        lambda: ProbeEffect.objects.filter(subscriber="record").first(),
        what="the effect after the lease expired",
        timeout=60,
    )
    assert effect.probe_id == event.probe_id
    assert effect.attempt == 2
    assert ProbeEffect.objects.filter(subscriber="record").count() == 1


def test_events_pending_when_redis_loses_its_queues_are_swept_up(event_workers):
    event_workers.stop()  # nobody consumes the kicks of these commits
    events = [ping() for _ in range(20)]
    redis.Redis.from_url(settings.REDIS_URL).flushall()  # the kicks are gone

    event_workers.start()

    wait_for(lambda: ProbeEffect.objects.count() == 40, what="all 40 effects")
    assert sorted(str(e.probe_id) for e in ProbeEffect.objects.filter(subscriber="record")) == (
        sorted(str(e.probe_id) for e in events)
    )


def test_two_relays_at_once_never_run_a_delivery_twice():
    events = [ProbePinged(probe_id=uuid.uuid4(), shop_id=1) for _ in range(1000)]
    with transaction.atomic():
        for event in events:
            publish(event, sequence=1)
    results = []
    start = threading.Barrier(2)

    def relay_and_deliver():
        try:
            start.wait()
            results.append(drain(max_seconds=120))
        finally:
            connection.close()

    threads = [threading.Thread(target=relay_and_deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r.relayed for r in results) == 1000
    assert sum(r.done for r in results) == 2000
    assert sum(r.duplicates for r in results) == 0
    assert ProbeEffect.objects.count() == 2000
    assert Delivery.objects.filter(status=DeliveryStatus.DONE).count() == 2000


def test_the_same_delivery_run_twice_at_once_takes_effect_once():
    ping()
    assert relay_batch() == 1
    delivery = Delivery.objects.select_related("event").get(
        subscriber="probe.record_on_probe_pinged"
    )
    outcomes = []
    start = threading.Barrier(2)

    def run():
        try:
            start.wait()
            outcomes.append(
                run_delivery(Delivery.objects.select_related("event").get(pk=delivery.pk))
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["done", "duplicate"]
    assert ProbeEffect.objects.filter(subscriber="record").count() == 1
