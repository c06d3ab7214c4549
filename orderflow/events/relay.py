"""The outbox relay and the delivery workers' loop.

Celery carries kicks and runs the loop; PostgreSQL carries the work:

1. **relay**: committed outbox rows are fanned out into one delivery per subscriber and
   given their place in the shops' feed. One relay runs at a time (a transaction-scoped
   advisory lock), so feed positions grow in commit order.
2. **claim**: due deliveries are claimed in a batch with ``FOR UPDATE SKIP LOCKED`` and a
   lease, so any number of workers can share the table and a killed worker's claims
   return to the pool when the lease ends.
3. **run**: each delivery runs in its own transaction that first inserts the inbox entry
   (event, subscriber) — a duplicate run finds it and does nothing — then calls the
   handler. The effect and its done-mark commit together.

Failures retry with exponential backoff and jitter, the next attempt time kept in the
row; unrecoverable errors and the last attempt make the delivery a dead letter.
"""

import functools
import logging
import random
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, Field, Max, OuterRef, Q
from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from orderflow import metrics, tracing
from orderflow.logging_context import log_context
from orderflow.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    InboxEntry,
    OutboxEvent,
)

from .base import UnknownEventType, get_event_class
from .context import handling
from .kick import draining, kick_after_commit, kick_received
from .subscribers import Envelope, Subscriber, get_subscriber, subscribers_for

logger = logging.getLogger(__name__)

RELAY_LOCK_ID = 0x0F_10_0E_1A  # any constant; names the relay's advisory lock


class PermanentError(Exception):
    """Raise from a handler for a failure that no retry can fix: dead-letter at once."""


#: Failures that will fail the same way every time, so retrying only delays the alarm.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    PermanentError,
    UnknownEventType,
    PydanticValidationError,
    DjangoValidationError,
    ObjectDoesNotExist,
)


@dataclass
class DrainResult:
    relayed: int = 0
    done: int = 0
    retried: int = 0
    dead: int = 0
    duplicates: int = 0

    def __iadd__(self, other: "DrainResult") -> "DrainResult":
        for field in ("relayed", "done", "retried", "dead", "duplicates"):
            setattr(self, field, getattr(self, field) + getattr(other, field))
        return self

    @property
    def handled(self) -> int:
        return self.done + self.retried + self.dead + self.duplicates


# --- relay ---
def relay_batch(*, limit: int | None = None) -> int:
    """Fan committed outbox rows out into deliveries; return how many events were relayed."""
    limit = limit or settings.EVENTS_BATCH_SIZE
    with transaction.atomic():
        _commit_without_flush()
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


# --- claim ---
def claim_batch(*, limit: int | None = None) -> list[Delivery]:
    """Claim due deliveries with a lease; expired leases of dead workers count as due.

    Highest priority first, then oldest due first. An ordered subscriber's delivery is
    due only when every earlier one of its aggregate is done and relayed.
    """
    limit = limit or settings.EVENTS_BATCH_SIZE
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.EVENTS_LEASE_SECONDS)
    with transaction.atomic():
        _commit_without_flush()
        if connection.vendor == "postgresql":
            return _claim_prepared(now=now, lease_until=lease_until, limit=limit)
        return _claim_orm(now=now, lease_until=lease_until, limit=limit)


#: The claim as one prepared statement: the ORM would compile it, and PostgreSQL plan
#: it, on every batch — more time than running it. Same rows as ``_claim_orm``.
_DELIVERY_COLUMNS = [f.column for f in Delivery._meta.concrete_fields]
_EVENT_COLUMNS = [f.column for f in OutboxEvent._meta.concrete_fields]
_CLAIM_SQL = f"""
WITH due AS (
    SELECT d.id FROM {Delivery._meta.db_table} d
    WHERE d.status IN ('{DeliveryStatus.PENDING}', '{DeliveryStatus.RUNNING}') AND (
        (d.status = '{DeliveryStatus.PENDING}' AND d.available_at <= %(now)s)
        OR (d.status = '{DeliveryStatus.RUNNING}' AND d.lease_until < %(now)s)
    ) AND (
        NOT d.ordered OR (
            NOT EXISTS (
                SELECT 1 FROM {Delivery._meta.db_table} e
                WHERE e.subscriber = d.subscriber AND e.aggregate = d.aggregate
                  AND e.aggregate_id = d.aggregate_id AND e.sequence < d.sequence
                  AND e.status <> '{DeliveryStatus.DONE}'
            ) AND NOT EXISTS (
                SELECT 1 FROM {OutboxEvent._meta.db_table} o
                WHERE o.aggregate = d.aggregate AND o.aggregate_id = d.aggregate_id
                  AND o.sequence < d.sequence AND o.published_at IS NULL
            )
        )
    )
    ORDER BY d.priority DESC, d.available_at, d.id
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE {Delivery._meta.db_table} d
SET status = '{DeliveryStatus.RUNNING}', attempts = d.attempts + 1, lease_until = %(lease_until)s
FROM due, {OutboxEvent._meta.db_table} o
WHERE d.id = due.id AND o.event_id = d.event_id
RETURNING {", ".join(f"d.{c}" for c in _DELIVERY_COLUMNS)},
          {", ".join(f"o.{c}" for c in _EVENT_COLUMNS)}
"""  # noqa: S608 (table and column names come from the models, values are parameters)


def _claim_prepared(*, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
    connection.ensure_connection()
    params = {"now": now, "lease_until": lease_until, "limit": limit}
    # A server-side-binding cursor of the same connection (and transaction): Django's
    # own cursors bind on the client, which cannot prepare.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_CLAIM_SQL, params, prepare=True)
        rows = cursor.fetchall()
    split = len(_DELIVERY_COLUMNS)
    claimed = []
    for row in rows:
        delivery = _from_row(Delivery, row[:split])
        delivery.event = _from_row(OutboxEvent, row[split:])
        claimed.append(delivery)
    claimed.sort(key=lambda d: (-d.priority, d.available_at, d.pk))
    return claimed


def _from_row(model, values):
    """A model instance from a raw row of all its concrete columns, as the ORM loads it."""
    converted = list(values)
    for index, field, converters in _converters(model):
        value = converted[index]
        for converter in converters:
            value = converter(value, field, connection)
        converted[index] = value
    return model.from_db(connection.alias, None, converted)


@functools.cache
def _converters(model) -> list[tuple[int, Field, list]]:
    """(column index, field, from-database converters) of the model's converted fields."""
    fields = enumerate(model._meta.concrete_fields)
    return [
        (index, field, converters)
        for index, field in fields
        if (converters := field.get_db_converters(connection))
    ]


def _claim_orm(*, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
    earlier_open = Delivery.objects.filter(
        subscriber=OuterRef("subscriber"),
        aggregate=OuterRef("aggregate"),
        aggregate_id=OuterRef("aggregate_id"),
        sequence__lt=OuterRef("sequence"),
    ).exclude(status=DeliveryStatus.DONE)
    earlier_unrelayed = OutboxEvent.objects.filter(
        aggregate=OuterRef("aggregate"),
        aggregate_id=OuterRef("aggregate_id"),
        sequence__lt=OuterRef("sequence"),
        published_at__isnull=True,
    )
    due = Q(status=DeliveryStatus.PENDING, available_at__lte=now) | Q(
        status=DeliveryStatus.RUNNING, lease_until__lt=now
    )
    in_order = Q(ordered=False) | (~Exists(earlier_open) & ~Exists(earlier_unrelayed))
    claimed = list(
        Delivery.objects.filter(due & in_order)
        .order_by("-priority", "available_at", "id")
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("event")[:limit]
    )
    if claimed:
        Delivery.objects.filter(pk__in=[d.pk for d in claimed]).update(
            status=DeliveryStatus.RUNNING, attempts=F("attempts") + 1, lease_until=lease_until
        )
    for delivery in claimed:
        delivery.status = DeliveryStatus.RUNNING
        delivery.attempts += 1
        delivery.lease_until = lease_until
    return claimed


# --- run ---
def run_delivery(delivery: Delivery) -> str:
    """Run one claimed delivery; return 'done', 'duplicate', 'retry' or 'dead'."""
    row = delivery.event
    started = time.perf_counter()
    with (
        tracing.delivery_span(row=row, subscriber=delivery.subscriber, attempt=delivery.attempts),
        log_context(
            event_id=row.event_id,
            event_type=row.type,
            subscriber=delivery.subscriber,
            correlation_id=row.correlation_id,
            order_id=row.data.get("order_id") if isinstance(row.data, dict) else None,
            shop_id=row.tenant_id,
        ),
    ):
        outcome = _run(delivery, row)
    metrics.record_delivery(
        subscriber=delivery.subscriber,
        outcome=outcome,
        seconds=time.perf_counter() - started,
        event_created_at=row.created_at,
    )
    return outcome


def _run(delivery: Delivery, row: OutboxEvent) -> str:
    sub = get_subscriber(delivery.subscriber)
    try:
        if sub is None:
            raise PermanentError(f"No subscriber named {delivery.subscriber!r} is registered.")
        event = get_event_class(row.type, row.version).from_data(row.data)
        envelope = envelope_for(row, delivery.attempts)
        with (
            handling(event_id=str(row.event_id), correlation_id=row.correlation_id),
            transaction.atomic(),
        ):
            if not sub.synchronous_commit:
                _commit_without_flush()
            if not _inbox_insert(row.event_id, sub.name):
                return "duplicate"
            sub.handler(event, envelope)
        return "done"
    except PERMANENT_ERRORS as error:
        tracing.record_failure(error)
        _record_failure(delivery, sub, error, retryable=False)
        return "dead"
    except Exception as error:
        tracing.record_failure(error)
        return "retry" if _record_failure(delivery, sub, error, retryable=True) else "dead"


def envelope_for(row: OutboxEvent, attempt: int) -> Envelope:
    """The envelope a handler receives with the event stored in ``row``."""
    return Envelope(
        event_id=str(row.event_id),
        type=row.type,
        version=row.version,
        aggregate=row.aggregate,
        aggregate_id=row.aggregate_id,
        sequence=row.sequence,
        tenant_id=row.tenant_id,
        correlation_id=row.correlation_id,
        causation_id=row.causation_id,
        occurred_at=row.occurred_at,
        attempt=attempt,
    )


def _inbox_insert(event_id, subscriber: str) -> bool:
    """Insert the done-mark; False if the (event, subscriber) pair already has one.

    ``ON CONFLICT DO NOTHING`` rather than catching IntegrityError, so a constraint
    violated by the handler's own effect is never mistaken for a duplicate delivery.
    A concurrent twin blocks on the unique index until this transaction ends.
    """
    meta = InboxEntry._meta
    params = [
        meta.get_field("event_id").get_db_prep_value(event_id, connection),
        subscriber,
        meta.get_field("processed_at").get_db_prep_value(timezone.now(), connection),
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {meta.db_table} (event_id, subscriber, processed_at) "  # noqa: S608
            "VALUES (%s, %s, %s) ON CONFLICT (event_id, subscriber) DO NOTHING",
            params,
        )
        return cursor.rowcount == 1


def retry_delay(attempt: int) -> float:
    """Exponential backoff with full jitter, capped: attempt 1 waits up to the base."""
    base = settings.EVENTS_RETRY_BASE_SECONDS
    cap = settings.EVENTS_RETRY_MAX_SECONDS
    ceiling = min(cap, base * 2 ** min(attempt - 1, 40))  # the cap wins long before 2**40
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _record_failure(
    delivery: Delivery, sub: Subscriber | None, error: BaseException, *, retryable: bool
) -> bool:
    """Schedule a retry (True) or make the delivery a dead letter (False)."""
    max_attempts = (sub.max_attempts if sub else None) or settings.EVENTS_MAX_ATTEMPTS
    will_retry = retryable and delivery.attempts < max_attempts
    now = timezone.now()
    message = f"{type(error).__name__}: {error}"[:2000]
    next_at = now + timedelta(seconds=retry_delay(delivery.attempts)) if will_retry else None
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            error=message,
            traceback="".join(traceback.format_exception(error))[-10_000:],
            retryable=retryable,
            next_attempt_at=next_at,
        )
        if will_retry:
            fields = {"status": DeliveryStatus.PENDING, "available_at": next_at}
        else:
            fields = {"status": DeliveryStatus.DEAD, "dead_at": now}
        Delivery.objects.filter(pk=delivery.pk).update(
            last_error=message, lease_until=None, **fields
        )
    log = logger.warning if will_retry else logger.error
    log(
        "delivery %s of %s to %s failed (attempt %d): %s%s",
        delivery.pk,
        delivery.event_id,
        delivery.subscriber,
        delivery.attempts,
        message,
        f"; retry at {next_at.isoformat()}" if next_at else "; dead letter",
    )
    return will_retry


def _mark_done(ids: list[int]) -> None:
    if ids:
        with transaction.atomic():
            _commit_without_flush()
            Delivery.objects.filter(pk__in=ids).update(
                status=DeliveryStatus.DONE, done_at=timezone.now(), lease_until=None
            )


def _commit_without_flush() -> None:
    """Let this transaction commit without waiting for its WAL flush.

    For the machinery's own bookkeeping (relay, claim, done-marks) and the effects of
    subscribers declared ``synchronous_commit=False``: if PostgreSQL crashes before the
    flush, such a transaction is lost whole and simply redone — the outbox row is
    relayed again, the claim's lease is retaken, a lost handler transaction takes its
    inbox entry with it, so the delivery runs again. The log is flushed in order, so
    nothing written after a lost transaction survives it. It saves an fsync per step,
    which on this hardware is most of a delivery's latency.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


# --- the loop ---
def process_batch() -> DrainResult:
    """Relay once, then claim and run one batch of deliveries."""
    result = DrainResult(relayed=relay_batch())
    done_ids = []
    for delivery in claim_batch():
        outcome = run_delivery(delivery)
        if outcome in ("done", "duplicate"):
            done_ids.append(delivery.pk)
        if outcome == "done":
            result.done += 1
        elif outcome == "duplicate":
            result.duplicates += 1
        elif outcome == "retry":
            result.retried += 1
        else:
            result.dead += 1
    _mark_done(done_ids)
    return result


def drain(*, max_seconds: float | None = None) -> DrainResult:
    """Work until nothing is due or ``max_seconds`` pass; return what was done."""
    kick_received()
    deadline = time.monotonic() + (max_seconds or settings.EVENTS_DRAIN_SECONDS)
    total = DrainResult()
    with draining():
        while True:
            batch = process_batch()
            total += batch
            if batch.handled >= settings.EVENTS_BATCH_SIZE:
                # A full batch means more is waiting: invite an idle worker process to
                # share it (coalesced, so at most one invitation is queued at a time).
                kick_after_commit()
            if (batch.relayed == 0 and batch.handled == 0) or time.monotonic() > deadline:
                return total


def due_backlog_exists(now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return (
        OutboxEvent.objects.filter(published_at__isnull=True).exists()
        or Delivery.objects.filter(
            Q(status=DeliveryStatus.PENDING, available_at__lte=now)
            | Q(status=DeliveryStatus.RUNNING, lease_until__lt=now)
        ).exists()
    )
