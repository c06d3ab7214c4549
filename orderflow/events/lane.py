"""The saga lane: claim deliveries (one per event and ``@subscriber``), run them, continue.

The lane is a :class:`~orderflow.events.workqueue.WorkQueue` over ``Delivery`` rows, run
by its own Celery task on its own queue (``EVENTS_SAGA_QUEUE``) in its own worker
process, so a saga step never waits behind projector or sender work.

* **claim**: due deliveries in one prepared statement, highest priority first, then
  oldest due first; an ordered subscriber's delivery is due only when every earlier one
  of its aggregate is done and relayed; the claim commits without waiting for the disk
  (a lost claim is retaken when its lease ends).
* **run**: each delivery is ONE transaction: the handler's effect, then one statement
  with the inbox entry, the delivery's done-mark and the events the handler published
  (held by ``publish()`` until then). A duplicate run finds the inbox entry there: its
  effects are rolled back and the delivery marked done; a failure rolls all of it back
  and the delivery is retried with backoff or made a dead letter.
* **continuation**: the lane relays once per batch, before its claim: the events the
  batch before published get their feed positions and deliveries there, and the next
  steps are claimed in the same pass — no kick round trip, no wait for a sweep, and no
  relay transaction after every step. Publishing from a step therefore sends no kick
  (see ``kick.relay_after_commit``).
"""

import functools
import logging
import time
import traceback
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from orderflow.models import Delivery, DeliveryAttempt, DeliveryStatus, InboxEntry, OutboxEvent
from orderflow.observability import metrics, tracing
from orderflow.observability.logging_context import log_context

from .base import get_event_class
from .context import handling
from .errors import PERMANENT_ERRORS, PermanentError
from .kick import LANE_KICK
from .publish import Deferred, deferred_insert_sql, deferred_publishing
from .relay import relay_batch
from .subscribers import Envelope, Subscriber, get_subscriber
from .workqueue import WorkQueue, commit_without_flush, execute_prepared, model_from_row

logger = logging.getLogger("orderflow.events.relay")  # the name operators' filters know


def _in_order() -> Q:
    """An ordered subscriber's delivery waits for its aggregate's earlier ones."""
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
    return Q(ordered=False) | (~Exists(earlier_open) & ~Exists(earlier_unrelayed))


LANE = WorkQueue(
    model=Delivery,
    kick=LANE_KICK,
    pending=DeliveryStatus.PENDING,
    running=DeliveryStatus.RUNNING,
    dead=DeliveryStatus.DEAD,
    done=DeliveryStatus.DONE,
    due_field="available_at",
    dead_at_field="dead_at",
    done_at_field="done_at",
    order_by=("-priority", "available_at", "id"),
    synchronous_claim=False,
    claim_filter=_in_order,
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


# --- claim ---
def claim_batch(*, limit: int | None = None) -> list[Delivery]:
    """Claim due deliveries with a lease; expired leases of dead workers count as due."""
    limit = limit or settings.EVENTS_BATCH_SIZE
    now = timezone.now()
    lease_until = LANE.lease_until(now)
    if connection.vendor == "postgresql":
        return _claim_prepared(now=now, lease_until=lease_until, limit=limit)
    return _claim_orm(now=now, lease_until=lease_until, limit=limit)


#: The claim as one prepared statement: the ORM would compile it, and PostgreSQL plan
#: it, on every batch — more time than running it. Same rows as ``_claim_orm``. Sent in
#: autocommit it is its own transaction — one round trip, where BEGIN, ``SET LOCAL``, the
#: claim and COMMIT were four — and ``set_config(…, true)`` lets that transaction commit
#: without waiting for its WAL flush (the setting ends with it). Inside a caller's
#: transaction it joins it, as the ``SET LOCAL`` in a savepoint did.
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
), without_flush AS (
    SELECT set_config('synchronous_commit', 'off', true)
)
UPDATE {Delivery._meta.db_table} d
SET status = '{DeliveryStatus.RUNNING}', attempts = d.attempts + 1, lease_until = %(lease_until)s
FROM due, without_flush, {OutboxEvent._meta.db_table} o
WHERE d.id = due.id AND o.event_id = d.event_id
RETURNING {", ".join(f"d.{c}" for c in _DELIVERY_COLUMNS)},
          {", ".join(f"o.{c}" for c in _EVENT_COLUMNS)}
"""  # noqa: S608 (table and column names come from the models, values are parameters)


def _claim_prepared(*, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
    rows = execute_prepared(_CLAIM_SQL, {"now": now, "lease_until": lease_until, "limit": limit})
    split = len(_DELIVERY_COLUMNS)
    claimed = []
    for row in rows:
        delivery = model_from_row(Delivery, row[:split])
        delivery.event = model_from_row(OutboxEvent, row[split:])
        claimed.append(delivery)
    claimed.sort(key=lambda d: (-d.priority, d.available_at, d.pk))
    return claimed


def _claim_orm(*, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
    seconds = (lease_until - now).total_seconds()
    return LANE.claim(
        limit=limit,
        now=now,
        queryset=Delivery.objects.select_related("event"),
        lease_seconds=seconds,
    )


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


class _DuplicateRun(Exception):
    """The step's inbox entry was there already: its effects are rolled back."""


def _run(delivery: Delivery, row: OutboxEvent) -> str:
    sub = get_subscriber(delivery.subscriber)
    try:
        if sub is None:
            raise PermanentError(f"No subscriber named {delivery.subscriber!r} is registered.")
        event = get_event_class(row.type, row.version).from_data(row.data)
        envelope = Envelope.from_row(row, attempt=delivery.attempts)
        with (
            handling(event_id=str(row.event_id), correlation_id=row.correlation_id),
            transaction.atomic(),
        ):
            if not sub.synchronous_commit:
                commit_without_flush()
            if connection.vendor != "postgresql":
                if not _inbox_insert_and_done(delivery, sub.name):
                    return "duplicate"
                sub.handler(event, envelope)
                return "done"
            with deferred_publishing() as published:
                sub.handler(event, envelope)
                if not _step_end(delivery, sub.name, published):
                    raise _DuplicateRun
        return "done"
    except _DuplicateRun:
        Delivery.objects.filter(pk=delivery.pk).update(**LANE.done_fields())
        return "duplicate"
    except PERMANENT_ERRORS as error:
        tracing.record_failure(error)
        _record_failure(delivery, sub, error, retryable=False)
        return "dead"
    except Exception as error:
        tracing.record_failure(error)
        return "retry" if _record_failure(delivery, sub, error, retryable=True) else "dead"


_INBOX = InboxEntry._meta.db_table
_DELIVERY = Delivery._meta.db_table


@functools.cache
def _step_end_sql(events: tuple[bool, ...]) -> str:
    """The step's last statement, for a handler that published events of this shape."""
    if events:
        published = (
            ", published AS (\n"  # noqa: S608 (the held rows' INSERT, built from the model)
            + deferred_insert_sql(events)
            + "\n)\nSELECT (SELECT count(*) FROM inbox),"
            " (SELECT array_agg(event_id ORDER BY event_id) FROM published),"
            " (SELECT array_agg(sequence ORDER BY event_id) FROM published)"
        )
    else:
        published = "\nSELECT (SELECT count(*) FROM inbox), NULL::uuid[], NULL::integer[]"
    return f"""
WITH inbox AS (
    INSERT INTO {_INBOX} (event_id, subscriber, processed_at)
    VALUES (%(event_id)s, %(subscriber)s, %(at)s)
    ON CONFLICT (event_id, subscriber) DO NOTHING RETURNING 1
), done AS (
    UPDATE {_DELIVERY} SET status = %(done)s, done_at = %(at)s, lease_until = NULL
    WHERE id = %(delivery)s
){published}
"""  # noqa: S608 (the models' tables)


def _step_end(delivery: Delivery, subscriber: str, published: Deferred) -> bool:
    """End a step in one statement: its inbox entry, its done-mark and the events it published.

    PostgreSQL, in the step's transaction, after the handler. False if the (event,
    subscriber) pair already had its inbox entry: a duplicate run, whose effects the
    caller rolls back (all of them: they are in this transaction) before marking the
    delivery done. The done-mark commits with the handler's effect or not at all: no crash
    leaves an effect without its done-mark. ``ON CONFLICT DO NOTHING`` rather than catching
    IntegrityError, so a constraint violated by the handler's own effect is never mistaken
    for a duplicate delivery. A concurrent twin waits for this transaction on the unique
    index (or, sooner, on the rows its handler locks), then finds the entry.
    """
    now = timezone.now()
    shape, events = published.params()
    params = {
        "event_id": delivery.event_id,
        "subscriber": subscriber,
        "at": now,
        "done": DeliveryStatus.DONE,
        "delivery": delivery.pk,
        **events,
    }
    sql = _step_end_sql(shape)
    ((inserted, event_ids, sequences),) = execute_prepared(sql, params)
    if inserted != 1:
        return False
    published.written(dict(zip(event_ids or (), sequences or (), strict=True)))
    return True


def _inbox_insert_and_done(delivery: Delivery, subscriber: str) -> bool:
    """SQLite (the embedded mode): insert the inbox entry and mark the delivery done first.

    False if the (event, subscriber) pair already has its inbox entry (a duplicate run:
    the delivery is marked done all the same, and the handler does not run).
    """
    now = timezone.now()
    meta = InboxEntry._meta
    event_id = meta.get_field("event_id").get_db_prep_value(delivery.event_id, connection)
    at = meta.get_field("processed_at").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_INBOX} (event_id, subscriber, processed_at) "  # noqa: S608
            "VALUES (%s, %s, %s) ON CONFLICT (event_id, subscriber) DO NOTHING",
            [event_id, subscriber, at],
        )
        inserted = cursor.rowcount == 1
    Delivery.objects.filter(pk=delivery.pk).update(**LANE.done_fields(now))
    return inserted


def _record_failure(
    delivery: Delivery, sub: Subscriber | None, error: BaseException, *, retryable: bool
) -> bool:
    """Schedule a retry (True) or make the delivery a dead letter (False)."""
    message = f"{type(error).__name__}: {error}"[:2000]
    now = timezone.now()
    with transaction.atomic():
        outcome = LANE.fail(
            delivery,
            delivery.attempts,
            retryable=retryable,
            max_attempts=sub.max_attempts if sub else None,
            now=now,
            error=message,
        )
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            error=message,
            traceback="".join(traceback.format_exception(error))[-10_000:],
            retryable=retryable,
            next_attempt_at=outcome.next_at,
        )
    next_at = outcome.next_at
    log = logger.warning if outcome.will_retry else logger.error
    log(
        "delivery %s of %s to %s failed (attempt %d): %s%s",
        delivery.pk,
        delivery.event_id,
        delivery.subscriber,
        delivery.attempts,
        message,
        f"; retry at {next_at.isoformat()}" if next_at else "; dead letter",
    )
    return outcome.will_retry


# --- the loop ---
def process_batch() -> DrainResult:
    """Relay once, claim one batch, run it.

    The events the batch's steps publish are relayed by the next batch's relay, which
    the drain runs right after this one: one relay per batch, not one after every step
    that published (a relay is its own transaction of three statements). The next step's
    delivery is made by that relay, before its claim, so no handler runs on an event the
    feed has not numbered yet: a step's inbox entry holds its event's row (a foreign-key
    lock) until it commits, which the relay's ``SKIP LOCKED`` would pass over, numbering
    a later event of the aggregate first.
    """
    result = DrainResult(relayed=_relay_all())
    with LANE.kick.running():  # a step's publish sends no kick
        for delivery in claim_batch():
            outcome = run_delivery(delivery)
            if outcome == "done":
                result.done += 1
            elif outcome == "duplicate":
                result.duplicates += 1
            elif outcome == "retry":
                result.retried += 1
            else:
                result.dead += 1
    return result


#: at most this many relays before a claim: a batch's steps publish more events than
#: one relay takes when the intake's come in meanwhile; the relay must keep up with them
_RELAYS_PER_BATCH = 4


def _relay_all() -> int:
    """Relay until what waits is relayed (at most ``_RELAYS_PER_BATCH`` relays)."""
    limit = settings.EVENTS_BATCH_SIZE
    relayed = 0
    for _ in range(_RELAYS_PER_BATCH):
        count = relay_batch(limit=limit)
        relayed += count
        if count < limit:
            break
    return relayed


def lane_drain(*, max_seconds: float | None = None) -> DrainResult:
    """Work the lane until nothing is relayable or due, or ``max_seconds`` pass."""
    return LANE.drain(
        process_batch,
        total=DrainResult(),
        max_seconds=max_seconds,
        idle=lambda batch: batch.relayed == 0 and batch.handled == 0,
    )


def lane_due(now: datetime | None = None) -> bool:
    """Whether the lane has work: an event to relay or a delivery due."""
    return OutboxEvent.objects.filter(published_at__isnull=True).exists() or LANE.due_exists(now)
