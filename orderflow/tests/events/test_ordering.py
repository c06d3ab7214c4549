"""Per-aggregate ordering of deliveries.

The guarantee, for a subscriber declared ``ordered=True``: its delivery of event *n* of
an aggregate is not claimed while any earlier event of that aggregate is still open for
it — not relayed yet, pending (including a scheduled retry), running, or dead. A dead
letter therefore holds the aggregate back until it is replayed and done; later events of
that aggregate wait rather than overtake it. Other aggregates, and subscribers that are
not ordered, are never held back. Deliveries of one aggregate are then handled in
sequence order, one event per batch.
"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from orderflow.events.lane import DrainResult, claim_batch, process_batch
from orderflow.events.maintenance import dead_letter_replay
from orderflow.events.relay import relay_batch
from orderflow.models import DeadLetter, Delivery, DeliveryStatus
from tests.probe.models import ProbeEffect

pytestmark = pytest.mark.django_db

RECORD = "probe.record_on_probe_pinged"
ORDERED = "probe.record_in_order_on_probe_pinged"


def claimed() -> list[tuple[str, str, int]]:
    """Claim a batch; return (subscriber, aggregate id, sequence) of each claimed delivery."""
    return sorted((d.subscriber, d.aggregate_id, d.sequence) for d in claim_batch())


def hold(probe_id: uuid.UUID, sequence: int, **state) -> None:
    Delivery.objects.filter(
        subscriber=ORDERED, aggregate_id=str(probe_id), sequence=sequence
    ).update(**state)


def test_the_later_event_waits_for_the_earlier_one_to_be_done(ping):
    probe_id = uuid.uuid4()
    ping(probe_id, sequence=1)
    ping(probe_id, sequence=2)
    relay_batch()
    agg = str(probe_id)

    first = claimed()

    assert first == [(ORDERED, agg, 1), (RECORD, agg, 1), (RECORD, agg, 2)]
    assert Delivery.objects.get(subscriber=ORDERED, sequence=2).status == DeliveryStatus.PENDING


def test_once_the_earlier_event_is_done_the_later_one_is_claimed(ping):
    probe_id = uuid.uuid4()
    ping(probe_id, sequence=1)
    ping(probe_id, sequence=2)

    first = process_batch()
    second = process_batch()

    assert first == DrainResult(relayed=2, done=3)
    assert second == DrainResult(done=1)
    ordered = ProbeEffect.objects.filter(subscriber="ordered").order_by("id")
    assert [e.sequence for e in ordered] == [1, 2]


#: The states of sequence 1's delivery that must hold sequence 2 back, as of ``now``.
OPEN_STATES = {
    "retry scheduled": lambda now: {
        "status": DeliveryStatus.PENDING,
        "attempts": 1,
        "available_at": now + timedelta(minutes=5),
    },
    "running": lambda now: {
        "status": DeliveryStatus.RUNNING,
        "attempts": 1,
        "lease_until": now + timedelta(minutes=5),
    },
    "dead": lambda now: {"status": DeliveryStatus.DEAD, "attempts": 10, "dead_at": now},
}


@pytest.mark.parametrize("state", OPEN_STATES)
def test_an_open_earlier_delivery_holds_the_later_one_back(ping, state):
    probe_id = uuid.uuid4()
    ping(probe_id, sequence=1)
    ping(probe_id, sequence=2)
    relay_batch()
    hold(probe_id, 1, **OPEN_STATES[state](timezone.now()))

    batch = claimed()

    assert batch == [(RECORD, str(probe_id), 1), (RECORD, str(probe_id), 2)]
    assert Delivery.objects.get(subscriber=ORDERED, sequence=2).status == DeliveryStatus.PENDING


def test_a_blocked_aggregate_does_not_hold_back_another(ping):
    blocked, free = uuid.uuid4(), uuid.uuid4()
    ping(blocked, sequence=1)
    ping(blocked, sequence=2)
    ping(free, sequence=1)
    ping(free, sequence=2)
    relay_batch()
    hold(blocked, 1, status=DeliveryStatus.DEAD, dead_at=timezone.now())

    batch = [(s, a, n) for s, a, n in claimed() if s == ORDERED]

    assert batch == [(ORDERED, str(free), 1)]


def test_an_unordered_subscriber_is_not_held_back(ping):
    probe_id = uuid.uuid4()
    ping(probe_id, sequence=1)
    ping(probe_id, sequence=2)
    relay_batch()
    Delivery.objects.filter(sequence=1).update(status=DeliveryStatus.DEAD, dead_at=timezone.now())

    batch = claimed()

    assert batch == [(RECORD, str(probe_id), 2)]


def test_an_earlier_event_not_yet_relayed_holds_the_later_one_back(ping):
    # given two transactions of one aggregate that committed out of order: sequence 2's
    # row is older, so the relay reaches it first
    probe_id = uuid.uuid4()
    agg = str(probe_id)
    ping(probe_id, sequence=2)
    ping(probe_id, sequence=1)
    assert relay_batch(limit=1) == 1

    before_relay = claimed()
    relay_batch()
    after_relay = claimed()

    assert before_relay == [(RECORD, agg, 2)]
    assert after_relay == [(ORDERED, agg, 1), (RECORD, agg, 1)]
    assert Delivery.objects.get(subscriber=ORDERED, sequence=2).status == DeliveryStatus.PENDING


def test_a_replayed_dead_letter_is_handled_before_the_events_it_held_back(ping):
    probe_id = uuid.uuid4()
    ping(probe_id, sequence=1)
    ping(probe_id, sequence=2)
    relay_batch()
    hold(probe_id, 1, status=DeliveryStatus.DEAD, dead_at=timezone.now())
    # only the unordered subscriber's deliveries run; sequence 2 waits behind the dead letter
    assert process_batch() == DrainResult(done=2)

    dead_letter_replay(
        delivery_ids=list(DeadLetter.objects.values_list("pk", flat=True)), actor="staff:ana"
    )
    replayed = process_batch()
    held_back = process_batch()

    assert (replayed, held_back) == (DrainResult(done=1), DrainResult(done=1))
    ordered = ProbeEffect.objects.filter(subscriber="ordered").order_by("id")
    assert [e.sequence for e in ordered] == [1, 2]
