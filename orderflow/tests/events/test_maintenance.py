"""The operator's side: retention purge, dead-letter replay and the backlog status."""

import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Max
from django.test import override_settings
from django.utils import timezone

from orderflow.events.kick import kick_after_commit
from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.maintenance import (
    OutboxStatus,
    dead_letter_replay,
    events_purge,
    outbox_status,
)
from orderflow.events.projectors import all_projectors
from orderflow.events.relay import relay_batch
from orderflow.models import (
    DeadLetter,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    InboxEntry,
    OutboxEvent,
    ProjectorCheckpoint,
)
from tests.probe.events import ProbeIgnored
from tests.probe.models import ProbeEffect, ProbeSwitch

pytestmark = pytest.mark.django_db

RECORD = "probe.record_on_probe_pinged"
ORDERED = "probe.record_in_order_on_probe_pinged"
DELIVERY_FIELDS = ("pk", "status", "attempts", "available_at", "lease_until", "replayed_at")


def age(row: OutboxEvent, *, days: int) -> None:
    OutboxEvent.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days))


def set_deliveries(row: OutboxEvent, status: str, *, subscriber: str | None = None) -> None:
    deliveries = Delivery.objects.filter(event=row)
    if subscriber:
        deliveries = deliveries.filter(subscriber=subscriber)
    deliveries.update(status=status)


def inbox_entry(*, days_ago: int) -> InboxEntry:
    return InboxEntry.objects.create(
        event_id=uuid.uuid4(),
        subscriber=RECORD,
        processed_at=timezone.now() - timedelta(days=days_ago),
    )


# --- purge ---
@override_settings(EVENTS_RETENTION_DAYS=30)
def projectors_passed_the_feed() -> None:
    """Every projector's checkpoint at the feed's end (the purge keeps what one has not read;
    test_projectors.py tests that part)."""
    last = OutboxEvent.objects.aggregate(last=Max("position"))["last"] or 0
    for p in all_projectors():
        ProjectorCheckpoint.objects.update_or_create(name=p.name, defaults={"position": last})


def test_purge_removes_only_old_relayed_fully_delivered_events(ping, publish_one):
    delivered = ping()
    unheard = publish_one(ProbeIgnored(probe_id=uuid.uuid4(), shop_id=1))
    pending = ping()
    dead = ping()
    recent = ping()
    relay_batch()
    unrelayed = ping()
    for row in (delivered, recent):
        set_deliveries(row, DeliveryStatus.DONE)
    set_deliveries(pending, DeliveryStatus.DONE, subscriber=RECORD)
    set_deliveries(dead, DeliveryStatus.DONE, subscriber=RECORD)
    set_deliveries(dead, DeliveryStatus.DEAD, subscriber=ORDERED)
    for row in (delivered, unheard, pending, dead, unrelayed):
        age(row, days=31)
    age(recent, days=29)
    old_entry, recent_entry = inbox_entry(days_ago=31), inbox_entry(days_ago=29)

    projectors_passed_the_feed()
    purged = events_purge()

    assert purged == {"events": 2, "inbox_entries": 1}
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {
        pending.pk,
        dead.pk,
        recent.pk,
        unrelayed.pk,
    }
    assert not Delivery.objects.filter(event_id=delivered.pk).exists()
    assert Delivery.objects.count() == 6  # two each for pending, dead and recent
    assert list(InboxEntry.objects.values_list("pk", flat=True)) == [recent_entry.pk]
    assert not InboxEntry.objects.filter(pk=old_entry.pk).exists()


def test_purge_takes_the_retention_as_an_argument_and_deletes_in_batches(ping):
    rows = [ping() for _ in range(3)]
    relay_batch()
    Delivery.objects.update(status=DeliveryStatus.DONE)
    for row in rows:
        age(row, days=3)
    kept = ping()
    relay_batch()
    Delivery.objects.filter(event=kept).update(status=DeliveryStatus.DONE)
    age(kept, days=1)

    projectors_passed_the_feed()
    purged = events_purge(older_than_days=2, batch_size=2)

    assert purged == {"events": 3, "inbox_entries": 0}
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [kept.pk]


def test_purge_of_nothing_old_deletes_nothing(ping):
    ping()
    relay_batch()
    Delivery.objects.update(status=DeliveryStatus.DONE)
    inbox_entry(days_ago=0)

    assert events_purge() == {"events": 0, "inbox_entries": 0}

    assert (OutboxEvent.objects.count(), Delivery.objects.count()) == (1, 2)
    assert InboxEntry.objects.count() == 1


# --- replay ---
def test_replay_puts_dead_letters_back_as_first_attempts(ping, django_capture_on_commit_callbacks):
    rows = [ping(behaviour="permanent") for _ in range(2)]
    relay_batch()
    for delivery in claim_batch():
        run_delivery(delivery)
    replayed_letter, other_letter = [DeadLetter.objects.get(event=row) for row in rows]
    untouched = {
        "other dead letter": other_letter.pk,
        "running": Delivery.objects.get(event=rows[0], subscriber=ORDERED).pk,
    }
    before = {
        name: Delivery.objects.values_list(*DELIVERY_FIELDS).get(pk=pk)
        for name, pk in untouched.items()
    }
    replay_started = timezone.now()

    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        replayed = dead_letter_replay(
            delivery_ids=[replayed_letter.pk, untouched["running"]], actor="staff:ana"
        )

    assert replayed == 1
    letter = Delivery.objects.get(pk=replayed_letter.pk)
    assert (letter.status, letter.attempts, letter.lease_until) == ("pending", 0, None)
    assert replay_started <= letter.available_at == letter.replayed_at <= timezone.now()
    assert {
        name: Delivery.objects.values_list(*DELIVERY_FIELDS).get(pk=pk)
        for name, pk in untouched.items()
    } == before
    # the history of the failed attempt is kept for support
    assert DeliveryAttempt.objects.filter(delivery=letter).count() == 1
    assert callbacks == [kick_after_commit]


def test_a_replayed_dead_letter_runs_as_a_fresh_first_attempt(ping):
    row = ping(behaviour="broken")
    relay_batch()
    Delivery.objects.filter(subscriber=RECORD).update(
        status=DeliveryStatus.DEAD, attempts=10, dead_at=timezone.now()
    )
    Delivery.objects.filter(subscriber=ORDERED).update(status=DeliveryStatus.DONE)
    ProbeSwitch.objects.create(name="fixed", on=True)

    dead_letter_replay(
        delivery_ids=list(DeadLetter.objects.values_list("pk", flat=True)), actor="staff:ana"
    )
    (delivery,) = claim_batch()
    outcome = run_delivery(delivery)

    assert (delivery.subscriber, delivery.attempts, outcome) == (RECORD, 1, "done")
    effect = ProbeEffect.objects.get()
    assert (effect.event_id, effect.attempt) == (row.event_id, 1)


def test_replay_of_no_dead_letter_changes_nothing_and_kicks_nobody(
    ping, django_capture_on_commit_callbacks
):
    ping()
    relay_batch()
    before = list(Delivery.objects.order_by("pk").values_list(*DELIVERY_FIELDS))

    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        replayed = dead_letter_replay(delivery_ids=[d[0] for d in before], actor="staff:ana")

    assert replayed == 0
    assert list(Delivery.objects.order_by("pk").values_list(*DELIVERY_FIELDS)) == before
    assert callbacks == []


# --- status ---
def test_status_of_an_empty_outbox_is_all_zero():
    assert outbox_status() == OutboxStatus(
        unrelayed=0,
        oldest_unrelayed_age=None,
        oldest_undelivered_age=None,
        in_flight=0,
        due=0,
        scheduled_retries=0,
        dead_letters=0,
    )


def test_status_counts_each_kind_of_backlog_exactly(ping):
    for _ in range(4):
        ping()
    relay_batch()
    unrelayed = ping()
    now = timezone.now()
    past, future = now - timedelta(minutes=1), now + timedelta(minutes=1)
    states = [
        {"status": "pending", "attempts": 0, "available_at": past},  # due
        {"status": "pending", "attempts": 2, "available_at": past},  # due: a retry whose time came
        {"status": "running", "attempts": 1, "lease_until": past},  # due: a lost lease
        {"status": "running", "attempts": 1, "lease_until": future},  # in flight
        {"status": "pending", "attempts": 1, "available_at": future},  # retry scheduled
        {"status": "dead", "attempts": 10, "dead_at": past},
        {"status": "done", "attempts": 1, "done_at": past},
        {"status": "done", "attempts": 1, "done_at": past},
    ]
    deliveries = list(Delivery.objects.order_by("pk"))
    for delivery, state in zip(deliveries, states, strict=True):
        Delivery.objects.filter(pk=delivery.pk).update(**state)
    OutboxEvent.objects.filter(pk=unrelayed.pk).update(created_at=now - timedelta(hours=1))
    Delivery.objects.filter(pk=deliveries[2].pk).update(created_at=now - timedelta(hours=2))
    # a done or dead delivery, however old, is not undelivered work
    Delivery.objects.filter(pk__in=[deliveries[5].pk, deliveries[6].pk]).update(
        created_at=now - timedelta(hours=3)
    )

    status = outbox_status()

    assert (
        status.unrelayed,
        status.due,
        status.in_flight,
        status.scheduled_retries,
        status.dead_letters,
    ) == (1, 3, 1, 1, 1)
    assert 3600 <= status.oldest_unrelayed_age < 3660
    assert 7200 <= status.oldest_undelivered_age < 7260
