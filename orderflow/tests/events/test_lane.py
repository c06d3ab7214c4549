"""The saga lane: continuation after a step, and a fixed number of round trips per step."""

import uuid
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import override_settings

from orderflow import tasks
from orderflow.events import publish
from orderflow.events.kick import LANE_KICK, LANE_TASK, PROJECTORS_KICK, PROJECTORS_TASK
from orderflow.events.lane import lane_due, process_batch
from orderflow.events.relay import relay_batch
from orderflow.events.workqueue import KICKER, Kick
from orderflow.models import Delivery, DeliveryStatus, InboxEntry, OutboxEvent
from orderflow.tasks import saga_lane_task
from orders.events import OrderStatus
from tests.probe.events import ProbeChained, ProbeNoop

SAGA_STEPS = [
    "orders.reserve_stock_on_order_placed",
    "payments.charge_on_stock_reserved",
    "orders.confirm_order_on_payment_captured",
    "payments.issue_invoice_on_order_confirmed",
]
CHAINED = "probe.publish_noop_on_probe_chained"
NOOP = "probe.nothing_on_probe_noop"


@pytest.fixture
def kicks(monkeypatch) -> list[str]:
    """Every kick sent (the broker stays untouched): the tasks' names, in order."""
    sent: list[str] = []
    monkeypatch.setattr(Kick, "send", lambda self: sent.append(self.task))
    return sent


class Statements:
    """Every SQL statement sent on the default connection (prepared ones included)."""

    def __init__(self):
        self.sql: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        self.sql.append(" ".join(str(sql).split()))
        return execute(sql, params, many, context)


@pytest.fixture
def statements() -> Iterator[Statements]:
    counter = Statements()
    with connection.execute_wrapper(counter):
        yield counter


@pytest.mark.django_db
@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_a_step_that_publishes_is_relayed_and_continued_by_the_next_batch(kicks):
    with transaction.atomic():
        publish(ProbeChained(probe_id=uuid.uuid4()))
    relay_batch()

    result = process_batch()

    # the chained step ran; its probe.noop waits for the next batch's relay (no relay
    # after the step, no delivery before the event has its feed position), and the
    # publish inside the step sent no kick
    assert (result.done, result.relayed) == (1, 0)
    chained = OutboxEvent.objects.get(type="probe.noop")
    assert chained.position is None
    assert not Delivery.objects.filter(subscriber=NOOP).exists()
    assert kicks == []

    result = process_batch()  # what the drain runs next: relay, then the next step

    assert (result.relayed, result.done) == (1, 1)
    assert OutboxEvent.objects.get(pk=chained.pk).position is not None
    assert Delivery.objects.get(subscriber=NOOP).status == DeliveryStatus.DONE
    assert kicks == []


@pytest.mark.django_db(transaction=True)
@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_a_four_step_saga_completes_in_one_lane_run_with_no_kick_between_steps(kicks):
    from orders.models import Order
    from payments.models import Invoice
    from testkit.factories import ProductFactory, ShopFactory, order_for

    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", on_hand=10)
    cache.delete_many([LANE_KICK.flag, PROJECTORS_KICK.flag])
    order = order_for(shop)
    KICKER.flush()  # the kicker thread's send, or this one
    assert kicks == [LANE_TASK]  # the intake's commit kicked the lane

    result = saga_lane_task()  # one task run, no beat, no other worker

    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.CONFIRMED
    assert Invoice.objects.filter(order_id=order.pk).count() == 1
    assert sorted(Delivery.objects.values_list("subscriber", "status")) == [
        (name, DeliveryStatus.DONE) for name in sorted(SAGA_STEPS)
    ]
    assert result["done"] == 4
    # the steps' own events were relayed by the lane itself: no lane kick after the first;
    # the projectors were kicked once (coalesced: nobody took that kick here)
    assert kicks == [LANE_TASK, PROJECTORS_TASK]
    cache.delete_many([LANE_KICK.flag, PROJECTORS_KICK.flag])


@pytest.mark.django_db(transaction=True)
@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_one_lane_step_is_a_fixed_list_of_statements(kicks, statements):
    with transaction.atomic():
        publish(ProbeChained(probe_id=uuid.uuid4()))
    relay_batch()
    statements.sql.clear()
    KICKER.flush()  # the publish above kicked the lane (from the kicker thread, or here)
    kicks.clear()  # what follows must send none

    result = process_batch()

    assert (result.done, result.relayed) == (1, 0)
    kinds = [_kind(sql) for sql in statements.sql]
    assert kinds == [
        # relay: nothing new to relay yet (the lock also skips the WAL flush wait)
        "relay lock",
        "relay select",
        # claim: one prepared statement, its own transaction (no BEGIN, SET LOCAL, COMMIT)
        "claim",
        # the step: the handler (its publish is held), then one statement: inbox entry,
        # done-mark and the held event (which takes the aggregate's next sequence). No relay
        # after the step: the next batch's relay gives the event its position and delivery,
        # before that batch's claim.
        "inbox + done + events",
    ], statements.sql
    assert InboxEntry.objects.filter(subscriber=CHAINED).count() == 1
    assert OutboxEvent.objects.filter(position__isnull=True).count() == 1
    assert kicks == []


def _kind(sql: str) -> str:
    lowered = sql.lower()
    if lowered.startswith("set local synchronous_commit"):
        return "SET LOCAL synchronous_commit"
    if "pg_try_advisory_xact_lock" in lowered:
        return "relay lock"
    if "orderflow_inboxentry" in lowered and "orderflow_delivery" in lowered:
        return "inbox + done + events" if "orderflow_outboxevent" in lowered else "inbox + done"
    if lowered.startswith("with due as"):
        return "claim"
    if lowered.startswith("with deliveries as"):
        return "relay publish"
    if "published_at is null" in lowered and "skip locked" in lowered:
        return "relay select"
    if lowered.startswith("insert into orderflow_outboxevent"):
        return "publish"
    return sql


@pytest.mark.parametrize(
    ("lane_due", "projectors_due", "expected"),
    [
        (False, False, []),
        (True, False, [LANE_TASK]),
        (False, True, [PROJECTORS_TASK]),
        (True, True, [LANE_TASK, PROJECTORS_TASK]),
    ],
)
@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_the_sweep_kicks_the_lane_and_the_projectors_each_when_behind(
    kicks, monkeypatch, lane_due, projectors_due, expected
):
    monkeypatch.setattr(tasks, "lane_due", lambda: lane_due)
    monkeypatch.setattr(tasks, "projectors_due", lambda: projectors_due)
    cache.delete_many([LANE_KICK.flag, PROJECTORS_KICK.flag])

    tasks.events_sweep_task()
    tasks.events_sweep_task()  # coalesced: a kick still waits for a worker

    assert kicks == expected
    cache.delete_many([LANE_KICK.flag, PROJECTORS_KICK.flag])


@pytest.mark.django_db
def test_lane_due_sees_an_unrelayed_event_and_a_due_delivery(publish_one):
    assert not lane_due()
    publish_one(ProbeChained(probe_id=uuid.uuid4()))
    assert lane_due()  # to relay
    relay_batch()
    assert lane_due()  # its delivery is due
    process_batch()
    process_batch()
    assert not lane_due()


@pytest.mark.django_db
@override_settings(CELERY_TASK_ALWAYS_EAGER=False, EVENTS_BATCH_SIZE=5)
def test_the_lane_relays_what_waits_before_its_claim_up_to_four_relays(kicks):
    """One relay per batch must keep up with a batch's steps and the intake's events."""
    with transaction.atomic():
        for _ in range(12):
            publish(ProbeNoop(probe_id=uuid.uuid4()))

    assert process_batch().relayed == 12  # 5 + 5 + 2: a relay that took less than a batch ends it
    assert OutboxEvent.objects.filter(position__isnull=True).count() == 0

    with transaction.atomic():
        for _ in range(23):
            publish(ProbeNoop(probe_id=uuid.uuid4()))

    assert process_batch().relayed == 20  # four relays of 5; the rest waits for the next batch
    assert OutboxEvent.objects.filter(position__isnull=True).count() == 3
    assert process_batch().relayed == 3
