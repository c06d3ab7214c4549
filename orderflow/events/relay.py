"""The outbox relay: committed events get their place in the feed, and their deliveries.

1. Committed outbox rows get their feed position (one relay runs at a time — a
   transaction-scoped advisory lock — so positions grow in commit order) and one
   ``Delivery`` per ``@subscriber`` (the saga steps: ``orderflow.events.lane`` runs them).
2. After the relay commits, the projectors are kicked (``kick.PROJECTORS_KICK``): they read
   the feed past their checkpoints (``orderflow.events.projectors``).

The relay runs in the saga lane: a kick from ``publish()`` wakes the lane, which relays
first, and the lane relays again right after each step that published (continuation).

The delivery machinery that lived here moved: the engine to ``workqueue``, the lane to
``lane``, the in-process loop to ``pump``; their names stay importable from here.
"""

import importlib
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from orderflow import metrics, tracing
from orderflow.models import Delivery, OutboxEvent

from .errors import PERMANENT_ERRORS, PermanentError
from .kick import kick_projectors_after_commit
from .subscribers import subscribers_for
from .workqueue import commit_without_flush, retry_delay

RELAY_LOCK_ID = 0x0F_10_0E_1A  # any constant; names the relay's advisory lock

__all__ = ["PERMANENT_ERRORS", "RELAY_LOCK_ID", "PermanentError", "relay_batch", "retry_delay"]


# --- relay ---
def relay_batch(*, limit: int | None = None) -> int:
    """Fan committed outbox rows out into deliveries; return how many events were relayed."""
    limit = limit or settings.EVENTS_BATCH_SIZE
    with transaction.atomic():
        commit_without_flush()
        if not _try_relay_lock():
            return 0
        events = list(
            OutboxEvent.objects.filter(published_at__isnull=True)
            .order_by("created_at", "sequence")
            .select_for_update(skip_locked=True)
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
        _mark_published(events, last=last, now=now)
        kick_projectors_after_commit()
    metrics.EVENTS_RELAYED.inc(len(events))
    tracing.record_relay(events)
    return len(events)


def _mark_published(events: list[OutboxEvent], *, last: int, now: datetime) -> None:
    """Store the positions ``last + 1…`` in list order and the publication time."""
    if connection.vendor != "postgresql":
        OutboxEvent.objects.bulk_update(events, ["position", "published_at"])
        return
    # One statement whatever the batch: bulk_update's CASE per row costs more to build
    # than the relay's every other step.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {OutboxEvent._meta.db_table} o "  # noqa: S608 (the model's table)
            "SET position = %s + v.ord, published_at = %s "
            "FROM unnest(%s::uuid[]) WITH ORDINALITY AS v(event_id, ord) "
            "WHERE o.event_id = v.event_id",
            [last, now, [event.event_id for event in events]],
        )


def _try_relay_lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite serialises writers by itself
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RELAY_LOCK_ID])
        return cursor.fetchone()[0]


#: Names that moved to the lane, the pump and the engine, still importable from here.
_MOVED = {
    "DrainResult": "lane",
    "claim_batch": "lane",
    "_claim_orm": "lane",
    "_claim_prepared": "lane",
    "run_delivery": "lane",
    "envelope_for": "lane",
    "process_batch": "lane",
    "_record_failure": "lane",
    "drain": "pump",
    "due_backlog_exists": "pump",
    "_commit_without_flush": "workqueue",
}


def __getattr__(name: str):
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name == "_commit_without_flush":
        name = "commit_without_flush"
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)
