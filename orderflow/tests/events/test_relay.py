"""The relay and the delivery loop, run in-process: relay, claim, run, retry, dead-letter."""

import dataclasses
import random
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test import override_settings
from django.utils import timezone

from orderflow.events import subscribers as subscriber_registry
from orderflow.events.lane import DrainResult, claim_batch, process_batch, run_delivery
from orderflow.events.pump import drain
from orderflow.events.relay import relay_batch, retry_delay
from orderflow.models import (
    DeadLetter,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    InboxEntry,
    OutboxEvent,
)
from tests.probe.events import ProbeIgnored, ProbeNoop
from tests.probe.models import ProbeEffect

pytestmark = pytest.mark.django_db

RECORD = "probe.record_on_probe_pinged"
ORDERED = "probe.record_in_order_on_probe_pinged"
NOOP = "probe.nothing_on_probe_noop"


def claimed_for(subscriber: str) -> Delivery:
    """Claim the due deliveries and return the one of ``subscriber`` (there must be one)."""
    (delivery,) = [d for d in claim_batch() if d.subscriber == subscriber]
    return delivery


def make_due(delivery: Delivery) -> None:
    """Let the scheduled retry time pass."""
    Delivery.objects.filter(pk=delivery.pk).update(
        available_at=timezone.now() - timedelta(seconds=1)
    )


# --- relay ---
def test_relay_fans_each_event_out_into_one_delivery_per_subscriber(ping, publish_one):
    pinged = ping(sequence=1)
    noop = publish_one(ProbeNoop(probe_id=uuid.uuid4()))
    ignored = publish_one(ProbeIgnored(probe_id=uuid.uuid4(), shop_id=1))
    before = timezone.now()

    relayed = relay_batch()

    assert relayed == 3
    deliveries = Delivery.objects.values_list(
        "event_id", "subscriber", "ordered", "status", "attempts", "aggregate_id", "sequence"
    )
    assert sorted(deliveries) == sorted(
        [
            (pinged.event_id, RECORD, False, "pending", 0, pinged.aggregate_id, 1),
            (pinged.event_id, ORDERED, True, "pending", 0, pinged.aggregate_id, 1),
            (noop.event_id, NOOP, False, "pending", 0, noop.aggregate_id, 1),
        ]
    )
    assert not Delivery.objects.filter(event_id=ignored.event_id).exists()
    assert all(before <= d.available_at <= timezone.now() for d in Delivery.objects.all())


def test_relay_gives_gap_free_positions_in_created_order_and_marks_published(ping, publish_one):
    rows = [ping(), publish_one(ProbeIgnored(probe_id=uuid.uuid4(), shop_id=1)), ping()]
    before = timezone.now()

    relay_batch()

    relayed = list(OutboxEvent.objects.order_by("position"))
    assert [(r.event_id, r.position) for r in relayed] == [
        (rows[0].event_id, 1),
        (rows[1].event_id, 2),
        (rows[2].event_id, 3),
    ]
    assert all(before <= r.published_at <= timezone.now() for r in relayed)


def test_a_second_relay_relays_nothing_new(ping):
    ping()
    relay_batch()
    deliveries = sorted(Delivery.objects.values_list("pk", "subscriber"))
    positions = list(OutboxEvent.objects.values_list("event_id", "position", "published_at"))

    assert relay_batch() == 0

    assert sorted(Delivery.objects.values_list("pk", "subscriber")) == deliveries
    assert list(OutboxEvent.objects.values_list("event_id", "position", "published_at")) == (
        positions
    )


def test_a_limited_relay_takes_the_oldest_and_the_next_continues_the_positions(ping):
    rows = [ping() for _ in range(3)]

    assert relay_batch(limit=2) == 2
    assert relay_batch(limit=2) == 1

    positions = OutboxEvent.objects.order_by("position").values_list("event_id", "position")
    assert list(positions) == [(row.event_id, n) for n, row in enumerate(rows, start=1)]


# --- claim ---
@override_settings(EVENTS_LEASE_SECONDS=60)
def test_claim_marks_running_counts_the_attempt_and_leases(ping):
    ping()
    relay_batch()
    before = timezone.now()

    claimed = claim_batch()

    after = timezone.now()
    assert sorted(d.subscriber for d in claimed) == [ORDERED, RECORD]
    for delivery in Delivery.objects.all():
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.RUNNING, 1)
        assert (
            before + timedelta(seconds=60) <= delivery.lease_until <= after + timedelta(seconds=60)
        )
    # the returned objects say what the rows say
    assert {(d.pk, d.status, d.attempts, d.lease_until) for d in claimed} == set(
        Delivery.objects.values_list("pk", "status", "attempts", "lease_until")
    )


def test_a_live_lease_is_not_claimed_again(ping):
    ping()
    relay_batch()
    claim_batch()

    assert claim_batch() == []

    assert list(Delivery.objects.values_list("attempts", flat=True)) == [1, 1]


def test_an_expired_lease_is_claimed_again_as_the_next_attempt(ping):
    # given a worker that claimed and died: its lease ran out
    ping()
    relay_batch()
    lost = claimed_for(RECORD)
    Delivery.objects.filter(pk=lost.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    reclaimed = claim_batch()

    assert [(d.pk, d.attempts) for d in reclaimed] == [(lost.pk, 2)]
    assert Delivery.objects.get(pk=lost.pk).lease_until > timezone.now()


def test_a_scheduled_retry_is_not_claimed_before_its_time(ping):
    ping()
    relay_batch()
    Delivery.objects.update(available_at=timezone.now() + timedelta(minutes=5))

    assert claim_batch() == []

    assert set(Delivery.objects.values_list("status", "attempts")) == {("pending", 0)}


def test_claim_takes_at_most_the_batch_limit(ping):
    for _ in range(3):
        ping()
    relay_batch()

    claimed = claim_batch(limit=4)

    assert len(claimed) == 4
    assert Delivery.objects.filter(status=DeliveryStatus.RUNNING).count() == 4
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2


# --- run ---
def test_run_applies_the_effect_with_its_inbox_entry(correlation_id, ping):
    row = ping(sequence=1)
    relay_batch()
    delivery = claimed_for(RECORD)

    outcome = run_delivery(delivery)

    assert outcome == "done"
    effect = ProbeEffect.objects.get()
    assert (effect.event_id, effect.subscriber, effect.sequence, effect.attempt) == (
        row.event_id,
        "record",
        1,
        1,
    )
    assert effect.correlation_id == "corr-test-1"
    assert list(InboxEntry.objects.values_list("event_id", "subscriber")) == [
        (row.event_id, RECORD)
    ]
    assert DeliveryAttempt.objects.count() == 0


def test_run_of_an_already_handled_delivery_is_a_duplicate_and_does_nothing(ping):
    row = ping()
    relay_batch()
    InboxEntry.objects.create(event_id=row.event_id, subscriber=RECORD, processed_at=timezone.now())
    delivery = claimed_for(RECORD)

    outcome = run_delivery(delivery)

    assert outcome == "duplicate"
    assert ProbeEffect.objects.count() == 0
    assert InboxEntry.objects.count() == 1
    assert DeliveryAttempt.objects.count() == 0


@override_settings(EVENTS_RETRY_BASE_SECONDS=2.0, EVENTS_RETRY_MAX_SECONDS=3600.0)
def test_a_failure_is_retried_later_with_the_attempt_recorded(ping):
    ping(behaviour="flaky", fail_times=1)
    relay_batch()
    delivery = claimed_for(RECORD)
    before = timezone.now()

    outcome = run_delivery(delivery)

    after = timezone.now()
    assert outcome == "retry"
    retried = Delivery.objects.get(pk=delivery.pk)
    assert (retried.status, retried.attempts, retried.lease_until) == ("pending", 1, None)
    assert retried.last_error == "RuntimeError: flaky failure on attempt 1"
    # attempt 1 waits between half the base and the base
    assert before + timedelta(seconds=1) <= retried.available_at <= after + timedelta(seconds=2)
    failure = DeliveryAttempt.objects.get()
    assert (failure.delivery_id, failure.number, failure.retryable) == (delivery.pk, 1, True)
    assert failure.next_attempt_at == retried.available_at
    assert failure.error == "RuntimeError: flaky failure on attempt 1"
    assert failure.traceback.startswith("Traceback (most recent call last):")
    assert failure.traceback.endswith("RuntimeError: flaky failure on attempt 1\n")
    assert ProbeEffect.objects.filter(subscriber="record").count() == 0
    assert not InboxEntry.objects.filter(subscriber=RECORD).exists()


def test_a_retried_delivery_succeeds_on_its_next_attempt(ping):
    ping(behaviour="flaky", fail_times=1)
    relay_batch()
    run_delivery(claimed_for(RECORD))
    make_due(Delivery.objects.get(subscriber=RECORD))

    outcome = run_delivery(claimed_for(RECORD))

    assert outcome == "done"
    assert list(ProbeEffect.objects.filter(subscriber="record").values_list("attempt")) == [(2,)]
    assert DeliveryAttempt.objects.count() == 1


@override_settings(EVENTS_MAX_ATTEMPTS=2)
def test_the_last_failed_attempt_makes_a_dead_letter(ping):
    ping(behaviour="broken")
    relay_batch()
    assert run_delivery(claimed_for(RECORD)) == "retry"
    make_due(Delivery.objects.get(subscriber=RECORD))
    before = timezone.now()

    outcome = run_delivery(claimed_for(RECORD))

    assert outcome == "dead"
    letter = DeadLetter.objects.get()
    assert (letter.subscriber, letter.status, letter.attempts, letter.lease_until) == (
        RECORD,
        "dead",
        2,
        None,
    )
    assert before <= letter.dead_at <= timezone.now()
    assert letter.last_error == "RuntimeError: broken until the 'fixed' switch is on"
    failures = DeliveryAttempt.objects.filter(delivery=letter)
    assert [(f.number, f.retryable, f.next_attempt_at is None) for f in failures] == [
        (1, True, False),
        (2, True, True),
    ]
    assert ProbeEffect.objects.filter(subscriber="record").count() == 0


def test_a_permanent_error_makes_a_dead_letter_at_once(ping):
    ping(behaviour="permanent")
    relay_batch()

    outcome = run_delivery(claimed_for(RECORD))

    assert outcome == "dead"
    letter = DeadLetter.objects.get()
    assert (letter.attempts, letter.last_error) == (
        1,
        "PermanentError: this event can never be handled",
    )
    assert list(DeliveryAttempt.objects.values_list("number", "retryable", "next_attempt_at")) == [
        (1, False, None)
    ]


def test_stored_data_that_no_longer_validates_makes_a_dead_letter_at_once(ping):
    row = ping()
    OutboxEvent.objects.filter(pk=row.pk).update(data={"probe_id": "not-a-uuid", "shop_id": 1})
    relay_batch()

    outcomes = sorted(run_delivery(d) for d in claim_batch())

    assert outcomes == ["dead", "dead"]
    assert sorted(DeadLetter.objects.values_list("subscriber", "attempts")) == [
        (ORDERED, 1),
        (RECORD, 1),
    ]
    assert all(
        letter.last_error.startswith("ValidationError: 1 validation error for ProbePinged")
        for letter in DeadLetter.objects.all()
    )
    assert set(DeliveryAttempt.objects.values_list("retryable", flat=True)) == {False}
    assert ProbeEffect.objects.count() == 0


def test_a_delivery_to_an_unknown_subscriber_is_a_dead_letter_at_once(ping):
    # given a delivery whose subscriber was renamed or removed since it was relayed
    ping()
    relay_batch()
    Delivery.objects.filter(subscriber=RECORD).update(subscriber="probe.gone_on_probe_pinged")

    outcome = run_delivery(claimed_for("probe.gone_on_probe_pinged"))

    assert outcome == "dead"
    letter = DeadLetter.objects.get()
    assert letter.last_error == (
        "PermanentError: No subscriber named 'probe.gone_on_probe_pinged' is registered."
    )
    assert DeliveryAttempt.objects.get().retryable is False


def test_a_delivery_of_an_undeclared_event_type_is_a_dead_letter_at_once(ping):
    row = ping()
    relay_batch()
    OutboxEvent.objects.filter(pk=row.pk).update(version=F("version") + 1)

    outcome = run_delivery(claimed_for(RECORD))

    assert outcome == "dead"
    assert DeadLetter.objects.get().last_error == (
        "UnknownEventType: No event type 'probe.pinged' version 2 is declared."
    )


# --- backoff ---
@override_settings(EVENTS_RETRY_BASE_SECONDS=2.0, EVENTS_RETRY_MAX_SECONDS=3600.0)
def test_retry_delay_doubles_with_full_jitter_between_half_and_the_ceiling():
    random.seed(20251125)
    for attempt in range(1, 41):
        ceiling = min(3600.0, 2.0 * 2 ** (attempt - 1))
        delays = [retry_delay(attempt) for _ in range(200)]
        assert ceiling / 2 <= min(delays), attempt
        assert max(delays) <= ceiling, attempt
        # jitter: the samples spread over most of the upper half
        assert max(delays) - min(delays) > ceiling / 4, attempt


# --- the loop ---
def test_process_batch_marks_handled_deliveries_done(ping):
    ping()
    before = timezone.now()

    result = process_batch()

    assert result == DrainResult(relayed=1, done=2)
    for delivery in Delivery.objects.all():
        assert (delivery.status, delivery.lease_until) == (DeliveryStatus.DONE, None)
        assert before <= delivery.done_at <= timezone.now()


def test_the_done_mark_commits_in_the_step_transaction(ping):
    # given a claimed delivery whose handler ran: no separate done-mark transaction
    ping()
    relay_batch()
    delivery = claimed_for(RECORD)
    sql: list[str] = []

    def record(execute, statement, params, many, context):
        sql.append(" ".join(str(statement).split()))
        return execute(statement, params, many, context)

    with connection.execute_wrapper(record):  # sees prepared statements too
        assert run_delivery(delivery) == "done"

    stored = Delivery.objects.get(pk=delivery.pk)
    assert (stored.status, stored.lease_until) == (DeliveryStatus.DONE, None)
    assert InboxEntry.objects.filter(event_id=delivery.event_id, subscriber=RECORD).exists()
    # the inbox entry and the done-mark are one statement inside the handler's
    # transaction, its last: the step ends with it (a duplicate rolls the effect back)
    sql = [text for text in sql if not text.startswith(("SAVEPOINT", "RELEASE"))]  # the test's
    marks = [i for i, text in enumerate(sql) if "INSERT INTO" in text and "inbox" in text]
    effects = [i for i, text in enumerate(sql) if "probe_probeeffect" in text]
    assert len(marks) == 1
    assert "UPDATE" in sql[marks[0]]
    assert effects[-1] < marks[0] == len(sql) - 1


def test_a_failing_handler_leaves_neither_effect_nor_done_mark(ping, monkeypatch):
    ping()
    relay_batch()
    delivery = claimed_for(RECORD)
    sub = subscriber_registry.get_subscriber(RECORD)

    def effect_then_crash(event, envelope):
        sub.handler(event, envelope)
        raise RuntimeError("crash after the effect")

    monkeypatch.setitem(
        subscriber_registry._subscribers,
        RECORD,
        dataclasses.replace(sub, handler=effect_then_crash),
    )
    assert run_delivery(delivery) == "retry"

    stored = Delivery.objects.get(pk=delivery.pk)
    assert (stored.status, stored.done_at) == (DeliveryStatus.PENDING, None)
    assert not InboxEntry.objects.filter(event_id=delivery.event_id, subscriber=RECORD).exists()
    assert not ProbeEffect.objects.filter(subscriber="record").exists()


def test_a_redelivery_after_a_lost_lease_is_marked_done_without_running_again(ping):
    # given a delivery whose step committed (inbox entry and effect) but that is claimable
    # again (a lease taken back, a replay of a done pair): the inbox makes it a no-op
    ping()
    relay_batch()
    lost = claimed_for(RECORD)
    Delivery.objects.exclude(pk=lost.pk).update(available_at=timezone.now() + timedelta(hours=1))
    assert run_delivery(lost) == "done"
    Delivery.objects.filter(pk=lost.pk).update(
        status=DeliveryStatus.RUNNING, lease_until=timezone.now() - timedelta(seconds=1)
    )

    result = process_batch()

    assert result == DrainResult(duplicates=1)
    assert Delivery.objects.get(pk=lost.pk).status == DeliveryStatus.DONE
    assert ProbeEffect.objects.filter(subscriber="record").count() == 1


def test_drain_works_until_nothing_is_due(ping, publish_one):
    for _ in range(2):
        ping()
    ping(behaviour="flaky", fail_times=1)
    publish_one(ProbeNoop(probe_id=uuid.uuid4()))

    result = drain()

    assert result == DrainResult(relayed=4, done=6, retried=1)
    statuses = Delivery.objects.values_list("status", flat=True)
    assert sorted(statuses) == ["done"] * 6 + ["pending"]
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0
