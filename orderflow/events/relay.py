"""The outbox relay: committed events get their place in the feed, and their deliveries.

1. Committed outbox rows get their feed position (one relay runs at a time — a
   transaction-scoped advisory lock — so positions grow in commit order) and one
   ``Delivery`` per ``@subscriber`` (the saga steps: ``orderflow.events.lane`` runs them).
2. After the relay commits, the projectors are kicked (``kick.PROJECTORS_KICK``): they read
   the feed past their checkpoints (``orderflow.events.projectors``).

The relay runs in the saga lane: a kick from ``publish()`` wakes the lane, which relays
before each batch it claims; the events a batch's steps publish are relayed before the
next batch's claim (continuation).

The delivery machinery that lived here moved: the engine to ``workqueue``, the lane to
``lane``, the in-process loop to ``pump``: import them from there.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from orderflow.models import Delivery, DeliveryStatus, OutboxEvent
from orderflow.observability import metrics, tracing

from .errors import PERMANENT_ERRORS, PermanentError
from .kick import kick_projectors_after_commit
from .subscribers import subscribers_for
from .workqueue import execute_prepared, retry_delay

RELAY_LOCK_ID = 0x0F_10_0E_1A  # any constant; names the relay's advisory lock

__all__ = ["PERMANENT_ERRORS", "RELAY_LOCK_ID", "PermanentError", "relay_batch", "retry_delay"]


# --- relay ---
def relay_batch(*, limit: int | None = None) -> int:
    """Give committed outbox rows their feed positions and deliveries; return how many.

    On PostgreSQL three statements whatever the batch (two when there is nothing to
    relay): the lock, the read of the batch with the last position, and one statement
    that inserts the deliveries and writes the positions.
    """
    limit = limit or settings.EVENTS_BATCH_SIZE
    if connection.vendor != "postgresql":
        return _relay_orm(limit)
    with transaction.atomic():
        if not _lock_without_flush():
            return 0
        rows = execute_prepared(_SELECT_SQL, {"limit": limit})
        if not rows:
            return 0
        now = timezone.now()
        last = rows[0][-1]
        events = [_Relayed(*row[:-1], position=last + n) for n, row in enumerate(rows, 1)]
        execute_prepared(_PUBLISH_SQL, _publish_params(events, last=last, now=now))
        kick_projectors_after_commit()
    metrics.EVENTS_RELAYED.inc(len(events))
    tracing.record_relay(events)
    return len(events)


@dataclass
class _Relayed:
    """What the relay reads of an event (and what its tracing span shows)."""

    event_id: uuid.UUID
    type: str
    aggregate: str
    aggregate_id: str
    sequence: int
    trace_context: dict
    created_at: datetime
    position: int


_OUTBOX = OutboxEvent._meta.db_table
_DELIVERY = Delivery._meta.db_table
# Read under the relay's lock, taken by the statement before: this statement's snapshot
# sees every earlier relay's positions, so the last one is the feed's last.
_SELECT_SQL = f"""
SELECT o.event_id, o.type, o.aggregate, o.aggregate_id, o.sequence, o.trace_context,
       o.created_at, (SELECT coalesce(max(position), 0) FROM {_OUTBOX})
FROM {_OUTBOX} o
WHERE o.published_at IS NULL
ORDER BY o.created_at, o.sequence
LIMIT %(limit)s
FOR UPDATE OF o SKIP LOCKED
"""  # noqa: S608 (the models' tables)
_PUBLISH_SQL = f"""
WITH deliveries AS (
    INSERT INTO {_DELIVERY} (
        event_id, subscriber, aggregate, aggregate_id, sequence, ordered, priority, status,
        attempts, available_at, last_error, created_at, replayed_by
    )
    SELECT d.event_id, d.subscriber, d.aggregate, d.aggregate_id, d.sequence, d.ordered,
           d.priority, '{DeliveryStatus.PENDING}', 0, %(now)s, '', %(now)s, ''
    FROM unnest(%(d_event)b::uuid[], %(d_subscriber)b::text[], %(d_aggregate)b::text[],
                %(d_aggregate_id)b::text[], %(d_sequence)b::integer[], %(d_ordered)b::boolean[],
                %(d_priority)b::smallint[])
         AS d(event_id, subscriber, aggregate, aggregate_id, sequence, ordered, priority)
    ON CONFLICT (event_id, subscriber) DO NOTHING
)
UPDATE {_OUTBOX} o
SET position = %(last)s + v.ord, published_at = %(now)s
FROM unnest(%(events)b::uuid[]) WITH ORDINALITY AS v(event_id, ord)
WHERE o.event_id = v.event_id
"""  # noqa: S608 (the models' tables; values are parameters)


def _publish_params(events: list[_Relayed], *, last: int, now: datetime) -> dict:
    columns: dict[str, list] = {
        name: []
        for name in (
            "d_event", "d_subscriber", "d_aggregate", "d_aggregate_id", "d_sequence",
            "d_ordered", "d_priority",
        )
    }  # fmt: skip
    for event in events:
        for sub in subscribers_for(event.type):
            columns["d_event"].append(event.event_id)
            columns["d_subscriber"].append(sub.name)
            columns["d_aggregate"].append(event.aggregate)
            columns["d_aggregate_id"].append(event.aggregate_id)
            columns["d_sequence"].append(event.sequence)
            columns["d_ordered"].append(sub.ordered)
            columns["d_priority"].append(int(sub.priority))
    return {**columns, "last": last, "now": now, "events": [e.event_id for e in events]}


def _lock_without_flush() -> bool:
    """Take the relay's lock (False: another relay runs) and skip the commit's WAL flush.

    One statement. Without the flush wait: if PostgreSQL crashes before the flush, the
    relay's transaction is lost whole and simply redone.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('synchronous_commit', 'off', true), pg_try_advisory_xact_lock(%s)",
            [RELAY_LOCK_ID],
        )
        return cursor.fetchone()[1]


def _relay_orm(limit: int) -> int:
    """The relay on SQLite (embedded mode), which serialises writers by itself."""
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.filter(published_at__isnull=True)
            .order_by("created_at", "sequence")
            .only(
                "event_id", "type", "aggregate", "aggregate_id", "sequence",
                "trace_context", "created_at",
            )[:limit]
        )  # fmt: skip
        if not events:
            return 0
        now = timezone.now()
        Delivery.objects.bulk_create(
            [
                Delivery(
                    event_id=event.event_id,
                    subscriber=sub.name,
                    aggregate=event.aggregate,
                    aggregate_id=event.aggregate_id,
                    sequence=event.sequence,
                    ordered=sub.ordered,
                    priority=sub.priority,
                    available_at=now,
                )
                for event in events
                for sub in subscribers_for(event.type)
            ],
            ignore_conflicts=True,
        )
        last = OutboxEvent.objects.aggregate(last=Max("position"))["last"] or 0
        for offset, event in enumerate(events, start=1):
            event.position = last + offset
            event.published_at = now
        OutboxEvent.objects.bulk_update(events, ["position", "published_at"])
        kick_projectors_after_commit()
    metrics.EVENTS_RELAYED.inc(len(events))
    tracing.record_relay(events)
    return len(events)
