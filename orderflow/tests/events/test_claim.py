"""Claim order and commit modes: priorities, the prepared claim, ``synchronous_commit``."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from orderflow.events.lane import _claim_orm, _claim_prepared, claim_batch, run_delivery
from orderflow.events.relay import relay_batch
from orderflow.models import Delivery, DeliveryStatus, OutboxEvent
from tests.probe.events import ProbeUrgent
from tests.probe.handlers import COMMIT_MODE_KEY

pytestmark = pytest.mark.django_db

URGENT = "probe.note_commit_mode_on_probe_urgent"
ORDERED = "probe.record_in_order_on_probe_pinged"


def test_a_high_priority_delivery_is_claimed_before_older_normal_ones(ping, publish_one):
    for _ in range(3):
        ping()
    urgent = publish_one(ProbeUrgent(probe_id=uuid.uuid4()))
    relay_batch()

    (first,) = claim_batch(limit=1)

    assert (first.subscriber, first.event_id, first.priority) == (URGENT, urgent.event_id, 10)
    assert set(Delivery.objects.exclude(pk=first.pk).values_list("status", "priority")) == {
        (DeliveryStatus.PENDING, 0)
    }


def test_the_prepared_claim_takes_what_the_orm_claim_takes(ping, publish_one):
    # given a backlog of every kind: due, ordered and blocked behind an earlier open one,
    # a lost lease, a live lease, a retry not yet due, and a high-priority delivery
    probe = uuid.uuid4()
    for sequence in (1, 2, 3):
        ping(probe, sequence=sequence)
    for _ in range(4):
        ping()
    publish_one(ProbeUrgent(probe_id=uuid.uuid4()))
    relay_batch()
    now = timezone.now()
    lost, live, later = Delivery.objects.exclude(aggregate_id=str(probe)).order_by("id")[:3]
    Delivery.objects.filter(pk=lost.pk).update(
        status=DeliveryStatus.RUNNING, lease_until=now - timedelta(seconds=1)
    )
    Delivery.objects.filter(pk=live.pk).update(
        status=DeliveryStatus.RUNNING, lease_until=now + timedelta(seconds=60)
    )
    Delivery.objects.filter(pk=later.pk).update(available_at=now + timedelta(minutes=5))
    lease = now + timedelta(seconds=60)

    def claim(path, limit):
        with transaction.atomic():
            claimed = path(now=now, lease_until=lease, limit=limit)
            transaction.set_rollback(True)
        return [(d.pk, d.attempts, d.status, d.event.type) for d in claimed]

    for limit in (1, 3, 100):
        assert claim(_claim_prepared, limit) == claim(_claim_orm, limit)
    every = claim(_claim_prepared, 100)
    assert lost.pk in {pk for pk, *_ in every}
    assert not {live.pk, later.pk} & {pk for pk, *_ in every}
    blocked = Delivery.objects.filter(subscriber=ORDERED, aggregate_id=str(probe), sequence__gt=1)
    assert not set(blocked.values_list("pk", flat=True)) & {pk for pk, *_ in every}


def test_a_prepared_claim_loads_rows_as_the_orm_does(ping):
    published = ping()
    relay_batch()

    claimed = claim_batch()

    row = OutboxEvent.objects.get(pk=published.pk)
    for delivery in claimed:
        assert delivery.event.data == row.data
        assert isinstance(delivery.event.data, dict)
        assert delivery.event.created_at == row.created_at
        assert delivery.lease_until.tzinfo is not None
        assert delivery == Delivery.objects.get(pk=delivery.pk)


@pytest.mark.django_db(transaction=True)  # real commits: SET LOCAL ends with the transaction
def test_a_subscriber_without_synchronous_commit_commits_its_effect_without_the_flush(
    publish_one,
):
    urgent = publish_one(ProbeUrgent(probe_id=uuid.uuid4()))
    relay_batch()
    (delivery,) = claim_batch()

    assert run_delivery(delivery) == "done"

    assert cache.get(COMMIT_MODE_KEY.format(event_id=urgent.event_id)) == "off"
    # SET LOCAL: the connection's next transaction commits synchronously again
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db(transaction=True)  # autocommit, as the lane claims
def test_the_lane_claims_in_one_statement_and_its_commit_mode_ends_with_it(ping, assert_statements):
    ping()
    relay_batch()

    with assert_statements(1):
        claimed = claim_batch()

    assert claimed
    assert {d.status for d in claimed} == {DeliveryStatus.RUNNING}
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.RUNNING}
    # the claim's set_config(…, true) ended with its own transaction
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
