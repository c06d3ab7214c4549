"""Kicks: after commit, tell a worker there is work; in embedded mode, do the work right away."""

import threading
import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings

from orderflow.celery import app as celery_app
from orderflow.events import publish
from orderflow.events.kick import KICK_FLAG, LANE_KICK
from orderflow.events.workqueue import KICKER, Kick, Kicker
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
    KICKER.flush()  # what the kicker thread has not sent yet

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


class GatedKick(Kick):
    """A kick whose sends are recorded (the sending thread's name) and can be held at a gate."""

    def __init__(self, name: str):
        super().__init__(name)
        self.sends: list[str] = []
        self.entered = threading.Semaphore(0)
        self.sent = threading.Semaphore(0)
        self.gate = threading.Event()
        self.gate.set()

    def now(self) -> None:
        self.entered.release()
        self.gate.wait(timeout=30)
        self.sends.append(threading.current_thread().name)
        self.sent.release()


def test_a_kick_asked_for_is_sent_by_the_kicker_thread_not_the_caller():
    kicker, kick = Kicker(window=0), GatedKick("probe.kick")

    kicker.ask(kick)

    assert kick.sent.acquire(timeout=30)
    assert kick.sends == ["orderflow-kicker"]


def test_asks_made_while_a_kick_is_being_sent_share_one_kick_after_it():
    kicker, kick, other = Kicker(window=0), GatedKick("probe.kick"), GatedKick("probe.other")
    kick.gate.clear()  # the thread's first send waits here
    kicker.ask(kick)
    assert kick.entered.acquire(timeout=30)
    for _ in range(5):  # while it waits: five commits ask for both kicks
        kicker.ask(kick)
        kicker.ask(other)

    kick.gate.set()
    assert kick.sent.acquire(timeout=30)  # the first ask's send
    assert kick.sent.acquire(timeout=30)  # the five later asks': one send, after the first
    assert other.sent.acquire(timeout=30)
    kicker.flush()

    assert (len(kick.sends), len(other.sends)) == (2, 1)


def test_flush_sends_every_kick_asked_for_before_it_returns():
    kicker, kick = Kicker(window=0), GatedKick("probe.kick")
    kick.gate.clear()
    kicker.ask(kick)  # the thread takes it and waits at the gate
    assert kick.entered.acquire(timeout=30)
    kicker.ask(kick)  # asked for again meanwhile
    threading.Thread(target=kick.gate.set).start()  # flush waits for the thread's send

    kicker.flush()

    assert len(kick.sends) == 2


def test_a_commit_in_a_web_process_does_not_wait_for_the_kick(broker, monkeypatch):
    """The request thread asks; the kicker thread sends the lane's kick, coalesced as ever."""
    senders: list[str] = []
    send = Kick.send
    monkeypatch.setattr(
        Kick, "send", lambda self: senders.append(threading.current_thread().name) or send(self)
    )

    with transaction.atomic():
        publish(ProbeNoop(probe_id=uuid.uuid4()))
    KICKER.flush()

    assert senders in (["orderflow-kicker"], [threading.current_thread().name])
    assert queued_messages() == 1
    assert cache.get(KICK_FLAG) == 1


@pytest.mark.parametrize("where", ["eager", "task"])
def test_in_eager_mode_and_in_a_celery_task_the_kick_is_sent_at_once(where, monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(Kick, "now", lambda self: sent.append(threading.current_thread().name))
    if where == "task":
        monkeypatch.setattr("orderflow.events.workqueue.current_task", object())
    eager = where == "eager"

    with override_settings(CELERY_TASK_ALWAYS_EAGER=eager):
        LANE_KICK.soon()

    assert sent == [threading.current_thread().name]
