"""A saga step's events written with its inbox entry: held by ``publish()``, one statement.

The lane's step ends with one statement (inbox entry, done-mark, the events the handler
published); what ``publish()`` holds meanwhile must keep every promise of a publish at once:
sequences in publishing order, nothing published under a rolled-back savepoint, the
in-process signal with the row as written, and a duplicate run changing nothing.
"""

import uuid
from collections.abc import Iterator

import pytest
from django.db import transaction

from orderflow.events import event_published, publish
from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.publish import deferred_insert_sql, deferred_publishing
from orderflow.events.relay import relay_batch
from orderflow.events.workqueue import execute_prepared
from orderflow.models import Delivery, DeliveryStatus, InboxEntry, OutboxEvent
from tests.probe.events import ProbeChained, ProbeNoop

pytestmark = pytest.mark.django_db

CHAINED = "probe.publish_noop_on_probe_chained"


@pytest.fixture
def signals() -> Iterator[list]:
    received = []

    def receiver(sender, **kwargs):
        row = kwargs["row"]
        # what a receiver can read of the row when the signal comes: it is written
        received.append((row.type, row.sequence, OutboxEvent.objects.filter(pk=row.pk).exists()))

    event_published.connect(receiver)
    try:
        yield received
    finally:
        event_published.disconnect(receiver)


def write(held) -> None:
    """What the lane's step end does with the held rows (here without an inbox entry)."""
    shape, params = held.params()
    rows = execute_prepared(deferred_insert_sql(shape), params) if held.rows else []
    held.written(dict(rows))


def sequences_of(probe: uuid.UUID) -> list[tuple[int, str]]:
    rows = OutboxEvent.objects.filter(aggregate_id=str(probe)).order_by("sequence")
    return [(row.sequence, row.data["note"]) for row in rows]


def noop(probe: uuid.UUID, note: str) -> ProbeNoop:
    event = ProbeNoop(probe_id=probe)
    # the payload's own fields cannot tell two no-ops apart: the test marks them
    object.__setattr__(event, "_note", note)
    return event


@pytest.fixture
def noted(monkeypatch):
    """``ProbeNoop.to_data`` carries the test's note, so rows can be told apart."""
    original = ProbeNoop.to_data

    def to_data(self):
        return {**original(self), "note": getattr(self, "_note", "")}

    monkeypatch.setattr(ProbeNoop, "to_data", to_data)


def test_held_events_of_one_aggregate_take_their_sequences_in_publishing_order(noted, signals):
    probe = uuid.uuid4()
    with transaction.atomic():
        publish(noop(probe, "first"))  # at once: no deferral yet
        with deferred_publishing() as held:
            publish(noop(probe, "second"))
            publish(noop(probe, "third"))
            assert sequences_of(probe) == [(1, "first")]  # held, not written
            assert signals == [("probe.noop", 1, True)]  # no signal before the write
            write(held)

    assert sequences_of(probe) == [(1, "first"), (2, "second"), (3, "third")]
    assert signals == [("probe.noop", n, True) for n in (1, 2, 3)]


def test_a_savepoint_writes_the_held_rows_first_and_its_rollback_takes_only_its_own(noted):
    probe = uuid.uuid4()
    seen_in_the_savepoint = []

    def under_a_savepoint() -> None:
        with transaction.atomic():
            seen_in_the_savepoint.extend(sequences_of(probe))
            publish(noop(probe, "rolled back"))  # under the savepoint: at once
            raise RuntimeError("the savepoint is rolled back")

    with transaction.atomic(), deferred_publishing() as held:
        publish(noop(probe, "held"))
        with pytest.raises(RuntimeError):
            under_a_savepoint()
        publish(noop(probe, "after"))
        write(held)

    assert seen_in_the_savepoint == [(1, "held")]  # written before the savepoint opened
    assert sequences_of(probe) == [(1, "held"), (2, "after")]


def test_a_block_without_a_savepoint_is_held_with_the_rest(noted):
    # the services run under atomic(savepoint=False) inside the lane's transaction
    probe = uuid.uuid4()
    with transaction.atomic(), deferred_publishing() as held:
        with transaction.atomic(savepoint=False):
            publish(noop(probe, "in a block"))
        assert sequences_of(probe) == []  # held
        publish(noop(probe, "after it"))
        write(held)

    assert sequences_of(probe) == [(1, "in a block"), (2, "after it")]


def test_a_given_sequence_is_held_and_the_rows_after_it_count_on_from_it(noted):
    # a new aggregate's first event names its sequence (1): held with the rest
    probe, other = uuid.uuid4(), uuid.uuid4()
    with transaction.atomic(), deferred_publishing() as held:
        publish(noop(probe, "given"), sequence=1)
        publish(noop(other, "another aggregate"))
        publish(noop(probe, "after it"))
        publish(noop(probe, "and after that"))
        assert sequences_of(probe) == []
        write(held)

    assert sequences_of(probe) == [(1, "given"), (2, "after it"), (3, "and after that")]
    assert sequences_of(other) == [(1, "another aggregate")]


@pytest.mark.django_db(transaction=True)
def test_a_step_ends_in_one_statement_with_the_events_it_published(assert_statements):
    with transaction.atomic():
        chained = publish(ProbeChained(probe_id=uuid.uuid4()))
    relay_batch()
    (delivery,) = claim_batch()

    with assert_statements(1) as sent:  # the handler publishes one event, sends nothing
        assert run_delivery(delivery) == "done"

    assert sent[0].startswith("WITH inbox AS")
    (caused,) = OutboxEvent.objects.filter(causation_id=str(chained.event_id))
    assert (caused.type, caused.sequence) == ("probe.noop", 2)
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DONE
    assert InboxEntry.objects.filter(event_id=chained.event_id, subscriber=CHAINED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_run_rolls_its_effects_back_and_is_marked_done():
    with transaction.atomic():
        chained = publish(ProbeChained(probe_id=uuid.uuid4()))
    relay_batch()
    (delivery,) = claim_batch()
    # the step ran before (its inbox entry is there), e.g. under a lease that ran out
    InboxEntry.objects.create(
        event_id=chained.event_id, subscriber=CHAINED, processed_at=chained.created_at
    )

    assert run_delivery(delivery) == "duplicate"

    assert not OutboxEvent.objects.filter(causation_id=str(chained.event_id)).exists()
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DONE
    assert InboxEntry.objects.filter(event_id=chained.event_id).count() == 1
