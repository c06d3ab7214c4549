"""Kicks: after commit, tell a worker there is work; in embedded mode, do the work right away."""

import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings

from orderflow.celery import app as celery_app
from orderflow.events import publish
from orderflow.events.kick import KICK_FLAG
from orderflow.models import Delivery, DeliveryStatus, InboxEntry, OutboxEvent
from tests.probe.events import ProbeChained, ProbeNoop, ProbePinged
from tests.probe.models import ProbeEffect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker() -> Iterator[None]:
    """Start and end with no kick pending: neither the coalescing flag nor a queued message."""

    def clear():
        cache.delete(KICK_FLAG)
        with celery_app.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in (settings.EVENTS_SAGA_QUEUE, settings.EVENTS_FLOW_QUEUE):
                channel.queue_declare(queue)
                channel.queue_purge(queue)
        celery_app.control.purge()

    clear()
    yield
    clear()


def queued_messages(queue: str | None = None) -> int:
    """Messages waiting in ``queue`` (the saga lane's queue unless named)."""
    with celery_app.connection_for_write() as connection:
        channel = connection.default_channel
        return channel.queue_declare(queue or settings.EVENTS_SAGA_QUEUE).message_count


@pytest.fixture
def embedded() -> Iterator[None]:
    """Run Celery eagerly, as the embedded mode does: a kick drains in the committing thread."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
            yield
    finally:
        celery_app.conf.task_always_eager = previous


def test_commits_kick_the_pump_once_while_a_kick_is_waiting(broker):
    with transaction.atomic():
        publish(ProbeNoop(probe_id=uuid.uuid4()))
        assert queued_messages() == 0  # nothing leaves the process before commit
    with transaction.atomic():
        publish(ProbeNoop(probe_id=uuid.uuid4()))

    assert OutboxEvent.objects.count() == 2
    assert queued_messages() == 1
    assert cache.get(KICK_FLAG) == 1


def publish_then_fail() -> None:
    with transaction.atomic():
        publish(ProbeNoop(probe_id=uuid.uuid4()))
        raise RuntimeError("rolled back")


def test_a_rolled_back_publish_sends_no_kick(broker):
    with pytest.raises(RuntimeError, match="rolled back"):
        publish_then_fail()

    assert OutboxEvent.objects.count() == 0
    assert queued_messages() == 0
    assert cache.get(KICK_FLAG) is None


def test_embedded_mode_delivers_right_after_commit(embedded, broker):
    event = ProbePinged(probe_id=uuid.uuid4(), shop_id=1)

    with transaction.atomic():
        row = publish(event, sequence=1)
        assert not ProbeEffect.objects.exists()  # nothing runs before commit

    effects = ProbeEffect.objects.order_by("subscriber")
    assert [(e.subscriber, e.event_id, e.attempt) for e in effects] == [
        ("ordered", row.event_id, 1),
        ("record", row.event_id, 1),
    ]
    assert sorted(Delivery.objects.values_list("subscriber", "status")) == [
        ("probe.record_in_order_on_probe_pinged", DeliveryStatus.DONE),
        ("probe.record_on_probe_pinged", DeliveryStatus.DONE),
    ]
    assert InboxEntry.objects.count() == 2
    assert queued_messages() == 0  # eager: no broker involved


def test_embedded_mode_delivers_what_a_handler_publishes_in_the_same_drain(embedded, broker):
    with transaction.atomic():
        chained = publish(ProbeChained(probe_id=uuid.uuid4()), sequence=1)

    caused = OutboxEvent.objects.get(type="probe.noop")
    assert caused.causation_id == str(chained.event_id)
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0
    assert sorted(Delivery.objects.values_list("subscriber", "status")) == [
        ("probe.nothing_on_probe_noop", DeliveryStatus.DONE),
        ("probe.publish_noop_on_probe_chained", DeliveryStatus.DONE),
    ]
