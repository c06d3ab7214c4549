"""Retention, replay and status: the operator's side of the event machinery."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from orderflow.models import (
    DeadLetter,
    Delivery,
    DeliveryStatus,
    InboxEntry,
    OutboxEvent,
    ParkedEvent,
)

from .kick import kick_after_commit
from .projectors import projectors_passed
from .workqueue import failed_work


def dead_letters(
    *,
    subscriber: str | None = None,
    event_type: str | None = None,
    tenant_id: str | None = None,
    since: datetime | None = None,
) -> QuerySet[DeadLetter]:
    return failed_work(
        DeadLetter.objects.select_related("event").order_by("dead_at", "id"),
        worker_field="subscriber",
        worker=subscriber,
        event_type=event_type,
        tenant_id=tenant_id,
        since_field="dead_at",
        since=since,
    )


def dead_letter_replay(*, delivery_ids: list[int], actor: str) -> int:
    """Put dead letters back in the pool as new first attempts; return how many.

    ``actor`` (``staff:ana``, ``command:replay_dead_letters``) is kept on each delivery:
    a replay makes handlers run again, so support must see who asked for it.
    """
    now = timezone.now()
    with transaction.atomic():
        replayed = Delivery.objects.filter(pk__in=delivery_ids, status=DeliveryStatus.DEAD).update(
            status=DeliveryStatus.PENDING,
            attempts=0,
            available_at=now,
            lease_until=None,
            replayed_at=now,
            replayed_by=actor[: Delivery._meta.get_field("replayed_by").max_length],
        )
        if replayed:
            transaction.on_commit(kick_after_commit, robust=True)
    return replayed


def events_purge(*, older_than_days: int | None = None, batch_size: int = 2000) -> dict:
    """Delete old, fully delivered events (with their deliveries) and old inbox entries.

    An event is purged only when relayed, every delivery of it is done and every
    projector has passed it, and no projector holds it parked unreplayed: nothing
    undelivered, unprojected or dead is ever removed.
    """
    days = older_than_days if older_than_days is not None else settings.EVENTS_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    open_deliveries = Delivery.objects.filter(event=OuterRef("pk")).exclude(
        status=DeliveryStatus.DONE
    )
    purgeable = OutboxEvent.objects.filter(
        published_at__isnull=False, created_at__lt=cutoff
    ).exclude(Exists(open_deliveries))
    purgeable = purgeable.exclude(
        Exists(ParkedEvent.objects.filter(event=OuterRef("pk"), replayed_at__isnull=True))
    )
    passed = projectors_passed()
    if passed is not None:
        purgeable = purgeable.filter(position__lte=passed)
    events = _delete_in_batches(purgeable, batch_size)
    inbox = _delete_in_batches(InboxEntry.objects.filter(processed_at__lt=cutoff), batch_size)
    return {"events": events, "inbox_entries": inbox}


def _delete_in_batches(query: QuerySet, batch_size: int) -> int:
    deleted = 0
    while True:
        ids = list(query.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic():
            query.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)


@dataclass(frozen=True)
class OutboxStatus:
    unrelayed: int
    oldest_unrelayed_age: float | None
    oldest_undelivered_age: float | None
    in_flight: int
    due: int
    scheduled_retries: int
    dead_letters: int


def outbox_status() -> OutboxStatus:
    now = timezone.now()
    unrelayed = OutboxEvent.objects.filter(published_at__isnull=True)
    open_ = Delivery.objects.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RUNNING])
    oldest_unrelayed = unrelayed.aggregate(at=Min("created_at"))["at"]
    oldest_open = open_.aggregate(at=Min("created_at"))["at"]
    oldest = min(filter(None, [oldest_unrelayed, oldest_open]), default=None)
    return OutboxStatus(
        unrelayed=unrelayed.count(),
        oldest_unrelayed_age=(now - oldest_unrelayed).total_seconds() if oldest_unrelayed else None,
        oldest_undelivered_age=(now - oldest).total_seconds() if oldest else None,
        in_flight=open_.filter(status=DeliveryStatus.RUNNING, lease_until__gte=now).count(),
        due=open_.filter(
            Q(status=DeliveryStatus.PENDING, available_at__lte=now)
            | Q(status=DeliveryStatus.RUNNING, lease_until__lt=now)
        ).count(),
        scheduled_retries=open_.filter(
            status=DeliveryStatus.PENDING, available_at__gt=now, attempts__gt=0
        ).count(),
        dead_letters=DeadLetter.objects.count(),
    )
