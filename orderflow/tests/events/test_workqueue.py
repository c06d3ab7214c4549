"""The work-queue engine on its own: claim with a lease, backoff, dead letter, kicks, drain."""

import threading
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import psycopg
import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

from orderflow.events import workqueue
from orderflow.events.workqueue import Kick, WorkQueue, retry_delay
from orderflow.models import Delivery, DeliveryStatus, OutboxEvent

pytestmark = pytest.mark.django_db

TASK = "orderflow.tests.workqueue_probe_task"


def make_queue(**options) -> WorkQueue:
    return WorkQueue(
        model=Delivery,
        kick=Kick(TASK, queue="flow"),
        pending=DeliveryStatus.PENDING,
        running=DeliveryStatus.RUNNING,
        dead=DeliveryStatus.DEAD,
        done=DeliveryStatus.DONE,
        dead_at_field="dead_at",
        done_at_field="done_at",
        **{"order_by": ("available_at", "id"), **options},
    )


@pytest.fixture
def rows(ping) -> list[Delivery]:
    """Four pending rows due one second apart, oldest first (no relay: made by hand)."""
    now = timezone.now()
    made = []
    for index in range(4):
        event = OutboxEvent.objects.get(pk=ping().pk)
        made.append(
            Delivery.objects.create(
                event=event,
                subscriber="probe.nothing",
                aggregate=event.aggregate,
                aggregate_id=event.aggregate_id,
                sequence=event.sequence,
                available_at=now - timedelta(seconds=10 - index),
            )
        )
    return made


def test_a_claim_takes_due_rows_oldest_first_and_leases_them(rows):
    queue = make_queue(lease_seconds=30)
    now = timezone.now()

    claimed = queue.claim(limit=2, now=now)

    assert [row.pk for row in claimed] == [rows[0].pk, rows[1].pk]
    stored = Delivery.objects.filter(pk__in=[rows[0].pk, rows[1].pk])
    assert {(r.status, r.attempts, r.lease_until) for r in stored} == {
        (DeliveryStatus.RUNNING, 1, now + timedelta(seconds=30))
    }
    assert {(r.status, r.attempts, r.lease_until) for r in claimed} == {
        (DeliveryStatus.RUNNING, 1, now + timedelta(seconds=30))
    }


def test_a_live_lease_is_not_claimed_a_lost_one_is_with_one_more_attempt(rows):
    queue = make_queue(lease_seconds=30)
    now = timezone.now()
    queue.claim(limit=4, now=now)

    assert queue.claim(now=now + timedelta(seconds=29)) == []
    assert not queue.due_exists(now=now + timedelta(seconds=29))

    retaken = queue.claim(now=now + timedelta(seconds=31))
    assert sorted(row.pk for row in retaken) == sorted(row.pk for row in rows)
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {2}


def test_a_row_not_yet_due_waits(rows):
    queue = make_queue()
    later = timezone.now() + timedelta(minutes=5)
    Delivery.objects.update(available_at=later)

    assert queue.claim() == []
    assert not queue.due_exists()
    assert len(queue.claim(now=later)) == 4


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_claims_never_take_the_same_row(rows):
    # given one claim holding its rows' locks inside an open transaction
    queue = make_queue()
    holding, release = threading.Event(), threading.Event()
    first: list[Delivery] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                first.extend(
                    Delivery.objects.filter(queue.due())
                    .order_by("available_at")
                    .select_for_update(skip_locked=True)[:2]
                )
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(timeout=30)
        second = queue.claim(limit=4)
    finally:
        release.set()
        thread.join(timeout=30)

    # the second claim skipped the locked rows instead of waiting for them
    assert {row.pk for row in first} == {rows[0].pk, rows[1].pk}
    assert {row.pk for row in second} == {rows[2].pk, rows[3].pk}


def test_a_failure_retries_with_backoff_then_dead_letters_at_the_last_attempt(rows, settings):
    settings.EVENTS_RETRY_BASE_SECONDS = 2.0
    settings.EVENTS_RETRY_MAX_SECONDS = 3600.0
    queue = make_queue(max_attempts=3)
    now = timezone.now()

    first = queue.fail(rows[0], 1, retryable=True, now=now, error="boom")
    assert first.will_retry
    assert now + timedelta(seconds=1) <= first.next_at <= now + timedelta(seconds=2)
    row = Delivery.objects.get(pk=rows[0].pk)
    assert (row.status, row.available_at, row.lease_until, row.last_error) == (
        DeliveryStatus.PENDING, first.next_at, None, "boom"
    )  # fmt: skip

    second = queue.failure(2, retryable=True, now=now)
    assert now + timedelta(seconds=2) <= second.next_at <= now + timedelta(seconds=4)

    last = queue.fail(rows[0], 3, retryable=True, now=now, error="boom")
    assert (last.will_retry, last.next_at) == (False, None)
    row = Delivery.objects.get(pk=rows[0].pk)
    assert (row.status, row.dead_at) == (DeliveryStatus.DEAD, now)


def test_a_permanent_failure_dead_letters_at_once(rows):
    outcome = make_queue().fail(rows[1], 1, retryable=False, error="no")

    assert not outcome.will_retry
    assert Delivery.objects.get(pk=rows[1].pk).status == DeliveryStatus.DEAD


def test_the_per_call_max_attempts_overrides_the_queue_and_settings(settings):
    settings.EVENTS_MAX_ATTEMPTS = 10
    queue = make_queue(max_attempts=5)

    assert queue.failure(5, retryable=True).will_retry is False
    assert queue.failure(5, retryable=True, max_attempts=6).will_retry is True
    assert make_queue().failure(9, retryable=True).will_retry is True


def test_retry_delay_is_jittered_exponential_and_capped(settings):
    settings.EVENTS_RETRY_BASE_SECONDS = 1.0
    settings.EVENTS_RETRY_MAX_SECONDS = 10.0

    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (50, 10)]:
        delays = [retry_delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), attempt
        assert len(set(delays)) > 1  # jittered


def test_done_fields_clear_the_lease():
    now = timezone.now()

    assert make_queue().done_fields(now) == {
        "status": DeliveryStatus.DONE, "lease_until": None, "done_at": now
    }  # fmt: skip


# --- kicks ---
@pytest.fixture
def sent(monkeypatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(Kick, "send", lambda self: calls.append(self.task))
    return calls


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_kicks_are_coalesced_until_a_worker_receives_one(sent):
    kick = Kick(TASK)
    cache.delete(kick.flag)

    kick.now()
    kick.now()
    assert sent == [TASK]

    kick.received()
    kick.now()
    assert sent == [TASK, TASK]
    cache.delete(kick.flag)


def test_a_kick_after_commit_waits_for_the_commit_and_a_rollback_sends_none(
    sent, django_capture_on_commit_callbacks
):
    kick = Kick(TASK)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        kick.after_commit()
        assert sent == []
    assert (len(callbacks), sent) == (1, [TASK])

    def roll_back() -> None:
        with transaction.atomic():
            kick.after_commit()
            raise RuntimeError

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        roll_back()
    assert (len(callbacks), sent) == (0, [TASK])


def test_an_eager_kick_does_not_reenter_the_running_loop(sent, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    kick = Kick(TASK)

    with kick.running():
        kick.now()
    assert sent == []
    kick.now()
    assert sent == [TASK]


# --- the loop ---
@dataclass
class Count:
    handled: int = 0

    def __iadd__(self, other: "Count") -> "Count":
        self.handled += other.handled
        return self


def test_drain_runs_batches_until_one_finds_nothing(sent, rows):
    queue = make_queue()
    batches = iter([Count(2), Count(2), Count(0), Count(5)])

    total = queue.drain(lambda: next(batches), total=Count(), batch_size=10)

    assert total.handled == 4


def test_drain_stops_at_its_deadline(monkeypatch, sent):
    queue = make_queue()
    clock = iter([0.0, 0.5, 2.0])
    monkeypatch.setattr(workqueue, "time", SimpleNamespace(monotonic=lambda: next(clock)))

    total = queue.drain(lambda: Count(1), total=Count(), max_seconds=1.0, batch_size=10)

    assert total.handled == 2  # the batch that ran past the deadline still counts


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_a_full_batch_invites_another_worker_and_time_out_hands_over(sent, rows):
    queue = make_queue()
    cache.delete(queue.kick.flag)
    batches = iter([Count(3), Count(0)])

    queue.drain(lambda: next(batches), total=Count(), batch_size=3)
    assert sent == [TASK]  # the invitation (coalesced through the flag)

    cache.delete(queue.kick.flag)
    assert queue.hand_over() is True  # rows are still due
    assert sent == [TASK, TASK]
    Delivery.objects.update(status=DeliveryStatus.DONE)
    assert queue.hand_over() is False


def _unreachable_redis_cache(settings) -> dict:
    """The cache as configured, pointed at a port nothing listens on (Redis down)."""
    default = settings.CACHES["default"]
    return {
        "default": {
            "BACKEND": "orderflow.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
            "KEY_PREFIX": default.get("KEY_PREFIX", ""),
        }
    }


def test_a_kick_with_redis_down_is_logged_not_raised(sent, settings, caplog):
    """A kick is a hint: Redis down must not end the drain that sends it (the sweep heals)."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CACHES = _unreachable_redis_cache(settings)
    kick = Kick(TASK)

    kick.now()
    kick.received()

    assert sent == []
    assert [r.getMessage() for r in caplog.records if r.name == workqueue.__name__] == [
        f"kick of {TASK} not sent; the sweep will pick the work up",
        f"kick flag of {TASK} not cleared; it expires by itself",
    ]


def test_the_prepared_claim_takes_what_the_orm_claim_takes_in_its_order(rows):
    # given rows of every kind: due, a lost lease, a live lease, one not yet due, a dead one
    now = timezone.now()
    Delivery.objects.filter(pk=rows[1].pk).update(
        status=DeliveryStatus.RUNNING, lease_until=now - timedelta(seconds=1)
    )
    Delivery.objects.filter(pk=rows[2].pk).update(
        status=DeliveryStatus.RUNNING, lease_until=now + timedelta(seconds=60)
    )
    Delivery.objects.filter(pk=rows[3].pk).update(available_at=now + timedelta(minutes=5))
    extra = Delivery.objects.create(
        event=rows[0].event,
        subscriber="probe.other",
        aggregate=rows[0].aggregate,
        aggregate_id=rows[0].aggregate_id,
        sequence=rows[0].sequence,
        available_at=rows[0].available_at,  # a tie on the first key: the second decides
    )
    Delivery.objects.create(
        event=rows[0].event,
        subscriber="probe.dead",
        aggregate=rows[0].aggregate,
        aggregate_id=rows[0].aggregate_id,
        sequence=rows[0].sequence,
        status=DeliveryStatus.DEAD,
        available_at=now - timedelta(minutes=1),
    )

    def claim(queue: WorkQueue, limit: int, *, orm: bool) -> list[tuple]:
        with transaction.atomic():
            claimed = queue.claim(
                limit=limit,
                now=now,
                queryset=Delivery.objects.all() if orm else None,  # a queryset: the ORM's claim
            )
            transaction.set_rollback(True)
        return [(row.pk, row.status, row.attempts, row.lease_until) for row in claimed]

    orders = (("available_at", "id"), ("-available_at", "-id"), ("subscriber", "-id"))
    for order_by in orders:
        queue = make_queue(order_by=order_by, lease_seconds=30)
        for limit in (1, 2, 10):
            assert claim(queue, limit, orm=False) == claim(queue, limit, orm=True), order_by
    every = claim(make_queue(), 10, orm=False)
    assert [pk for pk, *_ in every] == [rows[0].pk, extra.pk, rows[1].pk]
    # RETURNING promises no order: the claim sorts in Python as ORDER BY does, NULLs (no
    # lease) last ascending and first descending
    for order_by in (*orders, ("lease_until", "available_at", "id"), ("-lease_until", "-id")):
        in_order = list(Delivery.objects.order_by(*order_by))
        for shuffled in (in_order[::-1], in_order[1:] + in_order[:1]):
            shuffled.sort(key=workqueue._sort_key(Delivery, order_by))
            assert [row.pk for row in shuffled] == [row.pk for row in in_order], order_by


@pytest.mark.django_db(transaction=True)  # autocommit, as a worker claims
def test_a_claim_in_autocommit_is_one_statement_and_leaves_no_setting_behind(
    rows, assert_statements
):
    for synchronous in (True, False):
        Delivery.objects.update(status=DeliveryStatus.PENDING, attempts=0, lease_until=None)
        queue = make_queue(synchronous_claim=synchronous)

        with assert_statements(1):
            claimed = queue.claim(limit=2)

        assert [row.pk for row in claimed] == [rows[0].pk, rows[1].pk]
        # committed by itself: another connection sees the claim
        params = connection.settings_dict
        with psycopg.connect(
            dbname=params["NAME"],
            user=params["USER"],
            password=params["PASSWORD"],
            host=params["HOST"],
            port=params["PORT"] or 5432,
        ) as other:
            running = other.execute(
                "SELECT count(*) FROM orderflow_delivery WHERE status = %s",
                [DeliveryStatus.RUNNING],
            )
            assert running.fetchone()[0] == 2
        # set_config(…, true) ended with the claim's transaction
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
