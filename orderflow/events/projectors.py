"""Projectors: derived data kept up to date by reading the committed event feed.

A projector (tracking history, notifications' ledgers…) is declared in its context's
``handlers.py`` and registered when its ``AppConfig.ready()`` imports that module::

    @projector("tracking", event_types=REACTIONS.keys())
    def project(batch: list[FeedEvent]) -> None:
        ...  # set-based SQL keyed by natural unique keys

The engine reads the feed — ``OutboxEvent.position``, given by the relay in commit order,
one relay at a time, so the visible positions are always a gap-free prefix — past the
projector's checkpoint, in batches. Each batch is ONE transaction: lock the checkpoint
row (``FOR UPDATE SKIP LOCKED``: a locked row means another worker runs this projector
now), read the batch, ``apply`` it, move the checkpoint, commit. The effects and the
checkpoint commit together, and a rerun of a batch changes nothing because every effect
is keyed by a natural unique key (``ON CONFLICT DO NOTHING``, sequence-guarded upserts).
The transaction commits without waiting for its WAL flush: a projection lost in a crash
is simply derived again, since its checkpoint is lost with it.

A batch that fails is rolled back and bisected, each half in its own transaction, until
the one failing event is found; the events before it commit. That event is retried with
backoff (``retry_at`` on the checkpoint, which stays just before it) and, at its last
attempt or at once for a permanent error, **parked** (:class:`~orderflow.models.ParkedEvent`,
a projector's dead letter) while the checkpoint moves past it. A parked event is replayed
by hand: :func:`parked_event_replay` applies it again with :func:`projector_apply`.

The SQL round trips of a batch are a fixed number whatever its size (BEGIN, one statement
that locks the checkpoint and reads the batch, the projector's own statements, the
checkpoint update, COMMIT), so the engine's cost is paid per batch, not per event.
"""

from __future__ import annotations

import json
import logging
import time
import traceback as tb
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import psycopg
from celery.exceptions import SoftTimeLimitExceeded
from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from orderflow.models import OutboxEvent, ParkedEvent, ProjectorCheckpoint
from orderflow.observability import metrics, tracing

from .base import Event, get_event_class
from .context import handling
from .errors import PERMANENT_ERRORS
from .kick import kick_projectors_after_commit
from .subscribers import Envelope
from .workqueue import failed_work, fetched, kept_cursor, retry_delay

logger = logging.getLogger(__name__)


class ProjectorDeclarationError(TypeError):
    pass


@dataclass(frozen=True, kw_only=True)
class FeedEvent(Envelope):
    """One committed event as a projector reads it from the feed: its envelope (what a
    subscriber's handler receives), plus where it sits in the feed and what it carries."""

    #: 1, or how many times this event has been tried by this projector, this time included
    attempt: int = 1
    position: int
    created_at: datetime
    trace_context: dict
    data: dict

    @cached_property
    def event(self) -> Event:
        """The validated event (raises UnknownEventType or pydantic's ValidationError)."""
        return get_event_class(self.type, self.version).from_data(self.data)

    @classmethod
    def from_row(cls, row: OutboxEvent, *, attempt: int = 1) -> FeedEvent:
        return super().from_row(
            row,
            attempt=attempt,
            position=row.position,
            created_at=row.created_at,
            trace_context=row.trace_context or {},
            data=row.data,
        )


ApplyBatch = Callable[[list[FeedEvent]], None]

#: Raised while applying a batch but no fault of its events: the worker's time is up.
#: The batch rolls back and the pass stops; no event is retried or parked for it.
NOT_EVENT_FAILURES: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded,)


@dataclass(frozen=True)
class Projector:
    name: str
    event_types: frozenset[str]
    apply: ApplyBatch
    batch_size: int = 200
    #: overrides EVENTS_MAX_ATTEMPTS for this projector's failing events
    max_attempts: int | None = None

    @property
    def context(self) -> str:
        module = self.apply.__module__
        app = apps.get_containing_app_config(module)
        return app.label if app else module.split(".", 1)[0]

    @property
    def attempts_allowed(self) -> int:
        return self.max_attempts or settings.EVENTS_MAX_ATTEMPTS


_projectors: dict[str, Projector] = {}


def projector(
    name: str,
    *,
    event_types: Iterable[str],
    batch_size: int = 200,
    max_attempts: int | None = None,
) -> Callable[[ApplyBatch], ApplyBatch]:
    """Register the decorated function as the projector ``name`` over ``event_types``.

    The name keys the projector's checkpoint and parked events, so it must stay stable
    once it has run. ``apply(batch)`` is called inside a transaction the engine opened,
    with only the events of the declared types, in feed order; it must be idempotent by
    natural keys, may use ``transaction.on_commit`` for pushes and kicks (discarded if the
    batch rolls back), and fails the batch by raising.
    """
    types = frozenset(event_types)
    if not types:
        raise ProjectorDeclarationError(f"Projector {name!r} declares no event type.")
    if batch_size < 1:
        raise ProjectorDeclarationError(f"Projector {name!r}: batch_size must be at least 1.")

    def register(apply: ApplyBatch) -> ApplyBatch:
        existing = _projectors.get(name)
        if existing is not None and existing.apply.__qualname__ != apply.__qualname__:
            raise ProjectorDeclarationError(f"Projector {name!r} is declared twice.")
        _projectors[name] = Projector(
            name=name,
            event_types=types,
            apply=apply,
            batch_size=batch_size,
            max_attempts=max_attempts,
        )
        return apply

    return register


def all_projectors() -> list[Projector]:
    return sorted(_projectors.values(), key=lambda p: p.name)


def get_projector(name: str) -> Projector | None:
    return _projectors.get(name)


def _unregister(name: str) -> None:
    """Forget a projector (tests that register one of their own)."""
    _projectors.pop(name, None)


# --- reading the feed -------------------------------------------------------------------------
_CHECKPOINT = ProjectorCheckpoint._meta.db_table
_OUTBOX = OutboxEvent._meta.db_table
_FEED_COLUMNS = [
    "position", "event_id", "type", "version", "aggregate", "aggregate_id", "sequence",
    "tenant_id", "correlation_id", "causation_id", "occurred_at", "created_at",
    "trace_context", "data",
]  # fmt: skip

#: Lock the checkpoint, turn the commit asynchronous and read the batch: one statement.
#: Always one row per batch event, or one row with NULL feed columns when no event is
#: due; no row at all when the checkpoint row is missing or locked by another worker.
#: ``head`` (the last visible position, read in the same snapshot) is where a batch of
#: fewer than ``limit`` events moves the checkpoint: everything up to it is of types
#: this projector does not read.
_READ_SQL = f"""
WITH cp AS (
    SELECT position, attempts, retry_at, failing_event_id,
           set_config('synchronous_commit', 'off', true) AS commit_mode
    FROM {_CHECKPOINT} WHERE name = %(name)s FOR UPDATE SKIP LOCKED
)
SELECT cp.position, cp.attempts, cp.retry_at, cp.failing_event_id, cp.commit_mode,
       head.position, {", ".join(f"o.{c}" for c in _FEED_COLUMNS)}
FROM cp
CROSS JOIN (SELECT max(position) AS position FROM {_OUTBOX}) head
LEFT JOIN LATERAL (
    SELECT * FROM {_OUTBOX} f
    WHERE f.position > cp.position AND f.type = ANY(%(types)s)
      AND (cp.retry_at IS NULL OR cp.retry_at <= %(now)s)
    ORDER BY f.position
    LIMIT %(limit)s
) o ON true
ORDER BY o.position
"""  # noqa: S608 (table and column names come from the models, values are parameters)

_LOCK_SQL = f"""
SELECT position, attempts, retry_at, failing_event_id,
       set_config('synchronous_commit', 'off', true)
FROM {_CHECKPOINT} WHERE name = %(name)s FOR UPDATE SKIP LOCKED
"""  # noqa: S608

_ADVANCE_SQL = f"""
UPDATE {_CHECKPOINT}
SET position = %(position)s, attempts = 0, retry_at = NULL, failing_event_id = NULL,
    last_error = '', updated_at = %(now)s
WHERE name = %(name)s
"""  # noqa: S608

_ENSURE_SQL = f"""
INSERT INTO {_CHECKPOINT} (name, position, attempts, last_error, updated_at)
VALUES (%(name)s, 0, 0, '', %(now)s) ON CONFLICT (name) DO NOTHING
"""  # noqa: S608


@dataclass
class _Checkpoint:
    position: int
    attempts: int
    retry_at: datetime | None
    failing_event_id: str | None


@dataclass
class _Batch:
    checkpoint: _Checkpoint
    events: list[FeedEvent]
    #: the position the checkpoint moves to when the whole batch is applied
    end: int
    #: a full batch: more may be waiting right after it
    full: bool


def _execute(sql: str, params: dict[str, Any]) -> list[tuple]:
    """Run a statement as a prepared statement on the current connection and transaction."""
    # A server-side-binding cursor of Django's connection, kept per statement
    # (``workqueue.kept_cursor``): Django's own cursors bind on the client, which cannot
    # prepare.
    # Binary results: psycopg's C loaders read the timestamps, uuids and jsonb, where
    # Django's text loader for timestamps (Python-level parsing) costs ~20 µs an event.
    cursor = _cursor(sql)
    cursor.execute(sql, params, prepare=True, binary=True)
    return fetched(cursor)


def _cursor(sql: str) -> psycopg.Cursor:
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    return kept_cursor(db, sql)


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def _read_batch(p: Projector, now: datetime) -> _Batch | None:
    """Lock ``p``'s checkpoint and read its next batch; None if another worker holds it."""
    if not _postgresql():
        return _read_batch_orm(p, now)
    params = {"name": p.name, "types": list(p.event_types), "now": now, "limit": p.batch_size}
    rows = _execute(_READ_SQL, params)
    if not rows:
        return None  # locked by another worker, or missing (see _ensure_checkpoint)
    first = rows[0]
    checkpoint = _Checkpoint(
        position=first[0],
        attempts=first[1],
        retry_at=first[2],
        failing_event_id=str(first[3]) if first[3] else None,
    )
    head = first[5] or 0
    events = [_feed_event(row[6:], checkpoint) for row in rows if row[6] is not None]
    return _batch(p, checkpoint, events, head, now)


def _ensure_checkpoint(p: Projector) -> bool:
    """Create ``p``'s checkpoint at 0 in its own transaction; False if it existed.

    A new projector starts at the beginning of the retained feed. Its own transaction,
    so that a first batch that fails does not take the row away with its rollback. An
    existing row is never waited for: ON CONFLICT sees it committed and does nothing.
    """
    with transaction.atomic():
        if not _postgresql():
            return ProjectorCheckpoint.objects.get_or_create(name=p.name)[1]
        return bool(_execute_count(_ENSURE_SQL, {"name": p.name, "now": timezone.now()}))


def _execute_count(sql: str, params: dict[str, Any]) -> int:
    cursor = _cursor(sql)
    cursor.execute(sql, params, prepare=True)
    return cursor.rowcount


def _feed_event(values: tuple, checkpoint: _Checkpoint) -> FeedEvent:
    fields = dict(zip(_FEED_COLUMNS, values, strict=True))
    fields["event_id"] = str(fields["event_id"])
    # Django's connection loads jsonb as text (its JSONField decodes it itself)
    for name in ("trace_context", "data"):
        if isinstance(fields[name], str):
            fields[name] = json.loads(fields[name])
    fields["trace_context"] = fields["trace_context"] or {}
    attempt = checkpoint.attempts + 1 if fields["event_id"] == checkpoint.failing_event_id else 1
    return FeedEvent(**fields, attempt=attempt)


def _batch(
    p: Projector, checkpoint: _Checkpoint, events: list[FeedEvent], head: int, now: datetime
) -> _Batch:
    waiting = checkpoint.retry_at is not None and checkpoint.retry_at > now
    if waiting:
        return _Batch(checkpoint, [], checkpoint.position, full=False)
    if len(events) > 1 and events[0].event_id == checkpoint.failing_event_id:
        # the retry of an event that failed alone: alone again, so that failing once more
        # costs one transaction, not a bisection of the whole batch
        return _Batch(checkpoint, events[:1], events[0].position, full=True)
    full = len(events) >= p.batch_size
    end = events[-1].position if full else max(head, checkpoint.position)
    return _Batch(checkpoint, events, end, full=full)


def _read_batch_orm(p: Projector, now: datetime) -> _Batch | None:
    """The same read for SQLite (embedded mode), whose IMMEDIATE transactions serialise writers."""
    row = ProjectorCheckpoint.objects.filter(name=p.name).first()
    if row is None:
        return None
    checkpoint = _Checkpoint(
        position=row.position,
        attempts=row.attempts,
        retry_at=row.retry_at,
        failing_event_id=str(row.failing_event_id) if row.failing_event_id else None,
    )
    head = OutboxEvent.objects.aggregate(head=Max("position"))["head"] or 0
    rows = OutboxEvent.objects.filter(
        position__gt=checkpoint.position, type__in=p.event_types
    ).order_by("position")[: p.batch_size]
    events = [_feed_event(tuple(getattr(r, c) for c in _FEED_COLUMNS), checkpoint) for r in rows]
    return _batch(p, checkpoint, events, head, now)


def _lock(p: Projector) -> _Checkpoint | None:
    """Lock ``p``'s checkpoint row for this transaction; None if another worker holds it."""
    if not _postgresql():
        row = ProjectorCheckpoint.objects.filter(name=p.name).first()
        if row is None:
            return None
        values = (row.position, row.attempts, row.retry_at, row.failing_event_id)
    else:
        rows = _execute(_LOCK_SQL, {"name": p.name})
        if not rows:
            return None
        values = rows[0][:4]
    return _Checkpoint(values[0], values[1], values[2], str(values[3]) if values[3] else None)


def _advance(p: Projector, position: int, now: datetime) -> None:
    if _postgresql():
        _execute_count(_ADVANCE_SQL, {"name": p.name, "position": position, "now": now})
        return
    ProjectorCheckpoint.objects.filter(name=p.name).update(
        position=position, attempts=0, retry_at=None, failing_event_id=None, last_error=""
    )


# --- running ------------------------------------------------------------------------------
@dataclass
class PassResult:
    applied: int = 0
    #: the checkpoint moved (events applied, skipped or parked)
    advanced: bool = False
    #: more events may be due right away
    more: bool = False
    parked: int = 0
    failed: int = 0


def _apply(p: Projector, events: list[FeedEvent]) -> None:
    if not events:
        return
    started = time.perf_counter()
    with (
        tracing.batch_span(f"project {p.name}", events=events, attributes={"projector": p.name}),
        handling(event_id="", correlation_id=""),
    ):
        p.apply(events)
    metrics.record_projector_batch(
        projector=p.name, events=len(events), seconds=time.perf_counter() - started
    )


def projector_pass(p: Projector, *, now: datetime | None = None) -> PassResult:
    """Apply ``p``'s next batch in one transaction; bisect and retry or park on failure."""
    result = _pass(p, now or timezone.now())
    if result is None and _ensure_checkpoint(p):  # a new projector: its row exists now
        result = _pass(p, now or timezone.now())
    return result or PassResult()


def _pass(p: Projector, now: datetime) -> PassResult | None:
    """One batch; None when the checkpoint row is locked by another worker or missing."""
    batch = None
    try:
        with transaction.atomic():
            batch = _read_batch(p, now)
            if batch is None:
                return None
            if not batch.events and batch.end == batch.checkpoint.position:
                return PassResult()
            _apply(p, batch.events)
            _advance(p, batch.end, now)
        return PassResult(applied=len(batch.events), advanced=True, more=batch.full)
    except NOT_EVENT_FAILURES:
        raise
    except Exception as error:
        if batch is None:  # the read itself failed: nothing to isolate
            raise
        first_error = error
    return _isolate(
        p, batch.events, start=batch.checkpoint.position, end=batch.end, error=first_error
    )


def _isolate(
    p: Projector, events: list[FeedEvent], *, start: int, end: int, error: BaseException
) -> PassResult:
    """Find the failing event among ``events`` (which failed together) by bisecting.

    The checkpoint is at ``start``. Each half runs in its own transaction that checks
    the checkpoint is still there (another worker may have taken over between two).
    """
    if len(events) == 1:
        return _record_failure(p, events[0], start=start, error=error)
    middle = len(events) // 2
    left, right = events[:middle], events[middle:]
    outcome = _try(p, left, start=start, end=left[-1].position)
    if outcome is None:
        return PassResult()  # taken over
    if isinstance(outcome, BaseException):
        return _isolate(p, left, start=start, end=left[-1].position, error=outcome)
    applied = len(left)
    outcome = _try(p, right, start=left[-1].position, end=end)
    if outcome is None:
        return PassResult(applied=applied, advanced=True)
    if isinstance(outcome, BaseException):
        result = _isolate(p, right, start=left[-1].position, end=end, error=outcome)
        result.applied += applied
        result.advanced = True
        return result
    return PassResult(applied=applied + len(right), advanced=True, more=True)


def _try(
    p: Projector, events: list[FeedEvent], *, start: int, end: int
) -> bool | BaseException | None:
    """Apply ``events`` and move the checkpoint from ``start`` to ``end``.

    Return True when committed, the error when the apply failed (rolled back), None when
    the checkpoint is locked elsewhere or no longer at ``start``.
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            checkpoint = _lock(p)
            if checkpoint is None or checkpoint.position != start:
                return None
            _apply(p, events)
            _advance(p, end, now)
        return True
    except NOT_EVENT_FAILURES:
        raise
    except Exception as error:
        return error


def _record_failure(
    p: Projector, event: FeedEvent, *, start: int, error: BaseException
) -> PassResult:
    """Schedule ``event``'s retry, or park it and move the checkpoint past it."""
    now = timezone.now()
    message = f"{type(error).__name__}: {error}"[:2000]
    permanent = isinstance(error, PERMANENT_ERRORS)
    with transaction.atomic():
        checkpoint = _lock(p)
        if checkpoint is None or checkpoint.position != start:
            return PassResult()
        earlier = checkpoint.attempts if checkpoint.failing_event_id == event.event_id else 0
        attempts = earlier + 1
        park = permanent or attempts >= p.attempts_allowed
        if park:
            ParkedEvent.objects.update_or_create(
                projector=p.name,
                event_id=event.event_id,
                defaults={
                    "position": event.position,
                    "error": message,
                    "traceback": "".join(tb.format_exception(error))[-10_000:],
                    "attempts": attempts,
                    "parked_at": now,
                    "replayed_at": None,
                    "replayed_by": "",
                },
            )
            ProjectorCheckpoint.objects.filter(name=p.name).update(
                position=event.position,
                attempts=0,
                retry_at=None,
                failing_event_id=None,
                last_error=message,
                updated_at=now,
            )
        else:
            retry_at = now + timedelta(seconds=retry_delay(attempts))
            ProjectorCheckpoint.objects.filter(name=p.name).update(
                attempts=attempts,
                retry_at=retry_at,
                failing_event_id=event.event_id,
                last_error=message,
                updated_at=now,
            )
    metrics.record_projector_failure(projector=p.name, parked=park)
    log = logger.error if park else logger.warning
    log(
        "projector %s failed on event %s (%s, position %d, attempt %d): %s%s",
        p.name,
        event.event_id,
        event.type,
        event.position,
        attempts,
        message,
        "; parked" if park else f"; retry at {retry_at.isoformat()}",
    )
    if park:
        return PassResult(advanced=True, more=True, parked=1)
    return PassResult(failed=1)


@dataclass
class DrainResult:
    applied: int = 0
    #: time ran out with a projector still behind (the caller hands the work over)
    cut_short: bool = False


def projectors_drain(*, max_seconds: float | None = None) -> DrainResult:
    """Run every projector until it is caught up or ``max_seconds`` pass.

    A projector whose checkpoint another worker holds is left to that worker, which
    runs it until it is caught up.
    """
    deadline = time.monotonic() + (max_seconds or settings.EVENTS_DRAIN_SECONDS)
    drained = DrainResult()
    pending = all_projectors()
    while pending:
        still = []
        for index, p in enumerate(pending):
            result = projector_pass(p)
            drained.applied += result.applied
            if result.more:
                still.append(p)
            if time.monotonic() > deadline:
                drained.cut_short = bool(still) or index < len(pending) - 1
                return drained
        pending = still
    return drained


def projectors_due(*, now: datetime | None = None) -> bool:
    """Whether any projector is behind the feed on an event it reads (or has a retry due)."""
    now = now or timezone.now()
    projectors = all_projectors()
    if not projectors:
        return False
    checkpoints = {
        c.name: c for c in ProjectorCheckpoint.objects.filter(name__in=[p.name for p in projectors])
    }
    for p in projectors:
        checkpoint = checkpoints.get(p.name)
        if checkpoint is not None and checkpoint.retry_at and checkpoint.retry_at > now:
            continue
        position = checkpoint.position if checkpoint else 0
        if OutboxEvent.objects.filter(position__gt=position, type__in=p.event_types).exists():
            return True
    return False


def projectors_passed() -> int | None:
    """The feed position every registered projector has passed (None: no projector).

    A projector that has not run yet counts as at 0: it will read the retained feed.
    The purge keeps every event past this position.
    """
    names = [p.name for p in all_projectors()]
    if not names:
        return None
    positions = dict(
        ProjectorCheckpoint.objects.filter(name__in=names).values_list("name", "position")
    )
    return min(positions.get(name, 0) for name in names)


def projector_apply(name: str, events: list[FeedEvent]) -> None:
    """Apply ``events`` with projector ``name`` now, in a transaction (replay, tests).

    The checkpoint is neither read nor moved: the effects are idempotent by natural keys,
    so applying an event the projector has already applied changes nothing.
    """
    p = _projectors.get(name)
    if p is None:
        raise LookupError(f"No projector named {name!r} is registered.")
    selected = [e for e in events if e.type in p.event_types]
    with transaction.atomic():
        if _postgresql():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        _apply(p, selected)


# --- status ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProjectorStatus:
    name: str
    event_types: frozenset[str]
    #: the last feed position applied or passed (0: not run yet)
    position: int
    #: feed events past the checkpoint, of any type (positions are gap-free)
    lag: int
    #: failed attempts of the event it waits on (0: none failing)
    attempts: int
    retry_at: datetime | None
    failing_event_id: str | None
    last_error: str
    #: its parked events not replayed yet
    parked: int


def projectors_status() -> list[ProjectorStatus]:
    """Each registered projector's checkpoint, lag behind the feed and parked events."""
    projectors = all_projectors()
    names = [p.name for p in projectors]
    checkpoints = {c.name: c for c in ProjectorCheckpoint.objects.filter(name__in=names)}
    parked = dict(
        ParkedEvent.objects.filter(replayed_at__isnull=True)
        .values_list("projector")
        .annotate(n=Count("id"))
        .order_by()
    )
    head = OutboxEvent.objects.aggregate(head=Max("position"))["head"] or 0
    rows = []
    for p in projectors:
        checkpoint = checkpoints.get(p.name) or ProjectorCheckpoint(name=p.name)
        rows.append(
            ProjectorStatus(
                name=p.name,
                event_types=p.event_types,
                position=checkpoint.position,
                lag=max(head - checkpoint.position, 0),
                attempts=checkpoint.attempts,
                retry_at=checkpoint.retry_at,
                failing_event_id=(
                    str(checkpoint.failing_event_id) if checkpoint.failing_event_id else None
                ),
                last_error=checkpoint.last_error if checkpoint.failing_event_id else "",
                parked=parked.get(p.name, 0),
            )
        )
    return rows


def parked_count() -> int:
    """Parked events not replayed yet, of every projector (registered or not)."""
    return ParkedEvent.objects.filter(replayed_at__isnull=True).count()


def projector_retry_now(*, names: list[str]) -> int:
    """Make the waiting retries of these projectors due now (the cause is fixed); return how many.

    Their failing event keeps its attempt count: it is parked at its last attempt as before.
    """
    now = timezone.now()
    with transaction.atomic():
        waiting = ProjectorCheckpoint.objects.filter(
            name__in=names, failing_event_id__isnull=False, retry_at__gt=now
        ).update(retry_at=now)
        if waiting:
            transaction.on_commit(kick_projectors_after_commit, robust=True)
    return waiting


# --- parked events ------------------------------------------------------------------------
def parked_events(
    *,
    projector: str | None = None,
    event_type: str | None = None,
    tenant_id: str | None = None,
    since: datetime | None = None,
) -> QuerySet[ParkedEvent]:
    """Parked events not replayed yet, oldest first: the projectors' dead letters."""
    return failed_work(
        ParkedEvent.objects.filter(replayed_at__isnull=True)
        .select_related("event")
        .order_by("parked_at", "id"),
        worker_field="projector",
        worker=projector,
        event_type=event_type,
        tenant_id=tenant_id,
        since_field="parked_at",
        since=since,
    )


def parked_event_replay(*, parked_ids: list[int], actor: str) -> int:
    """Apply parked events again with their projector now; return how many succeeded.

    ``actor`` (``staff:ana``, ``command:replay_dead_letters``) is kept on each row, as
    for replayed deliveries. An event that fails again stays parked (its error updated).
    """
    replayed = 0
    max_length = ParkedEvent._meta.get_field("replayed_by").max_length
    for parked in ParkedEvent.objects.filter(
        pk__in=parked_ids, replayed_at__isnull=True
    ).select_related("event"):
        try:
            projector_apply(
                parked.projector, [FeedEvent.from_row(parked.event, attempt=parked.attempts + 1)]
            )
        except Exception as error:
            ParkedEvent.objects.filter(pk=parked.pk).update(
                error=f"{type(error).__name__}: {error}"[:2000],
                traceback="".join(tb.format_exception(error))[-10_000:],
                attempts=parked.attempts + 1,
            )
            logger.error(
                "replay of parked event %s for %s failed: %s",
                parked.event_id,
                parked.projector,
                error,
            )
            continue
        ParkedEvent.objects.filter(pk=parked.pk).update(
            replayed_at=timezone.now(), replayed_by=actor[:max_length]
        )
        replayed += 1
    return replayed


__all__ = [
    "ApplyBatch",
    "DrainResult",
    "FeedEvent",
    "PassResult",
    "Projector",
    "ProjectorStatus",
    "all_projectors",
    "get_projector",
    "parked_count",
    "parked_event_replay",
    "parked_events",
    "projector",
    "projector_apply",
    "projector_pass",
    "projector_retry_now",
    "projectors_drain",
    "projectors_due",
    "projectors_passed",
    "projectors_status",
]
