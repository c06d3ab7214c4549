"""One work-queue engine: rows of a table claimed with a lease, retried, dead-lettered.

PostgreSQL carries the work, Celery carries data-less kicks. Every queue of the project
(the saga lane's deliveries, the webhook and e-mail senders' rows) is the same shape:

* a row is **due** when it waits (``pending`` status) and its due time has come, or when
  it is claimed (``running`` status) under a lease that ended — its worker died;
* a **claim** takes due rows in one transaction with ``FOR UPDATE SKIP LOCKED``, marks
  them running, counts the attempt and sets the lease, so any number of workers share
  the table; on PostgreSQL it is one prepared statement, its own transaction when sent
  in autocommit (one round trip);
* a failure **retries** with exponential backoff and full jitter (:func:`retry_delay`),
  the next attempt time kept in the row, or makes the row a **dead letter** at its last
  attempt (or at once for a permanent error);
* a **kick** after commit wakes a worker; kicks are coalesced through a cache flag (one
  waits in the broker at a time) and a worker clears the flag as it starts
  (:meth:`Kick.received`); a lost kick only waits for beat's sweep (:meth:`WorkQueue.due_exists`);
  a web process sends its kicks from a thread of its own (:class:`Kicker`), so a request
  never waits for Redis and close commits share one round trip;
* the **drain** loop runs batches until nothing is due or its deadline passes, invites
  another worker when a batch was full, and hands over (re-kicks) when time ran out
  with work left.

API (stable: the notifications senders build on it)::

    queue = WorkQueue(
        model=WebhookDelivery,
        kick=Kick("notifications.tasks.webhook_deliver_task", queue="flow"),
        pending="queued", running="sending", dead="failed",
        due_field="next_attempt_at",          # the row's due / next-attempt time
        lease_field="lease_until", attempts_field="attempts",
        error_field="last_error", dead_at_field=None, done="sent", done_at_field=None,
        order_by=("next_attempt_at", "pk"),
        lease_seconds=60, synchronous_claim=True,
    )
    queue.due(now) -> Q                                   # the due condition, for any query
    queue.due_exists(now=None, queryset=None) -> bool     # beat's sweep / hand-over test
    queue.claim(limit=25, now=None, queryset=None, lease_seconds=None) -> list[row]
    queue.failure(attempts, *, retryable, max_attempts=None, now=None, error="")
        -> Failure(will_retry, next_at, fields)           # pure: the row's new field values
    queue.fail(row_or_pk, attempts, *, retryable, ...)  -> Failure   # applies it (1 UPDATE)
    queue.done_fields(now=None) -> dict                   # the done-mark's field values
    queue.kick.after_commit()   queue.kick.now()   queue.kick.soon()   queue.kick.received()
    with queue.kick.running(): ...                        # eager mode: no re-entrant kick
    queue.drain(step, *, total, max_seconds, batch_size, idle=None) -> total
    queue.hand_over(queryset=None) -> bool                # re-kick if work is still due

A batch sender that records many outcomes in one statement uses :meth:`WorkQueue.failure`
(pure) per row and writes the fields itself; :meth:`WorkQueue.fail` is the one-row form.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

import psycopg
from celery import current_app, current_task
from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F, Model, Q, QuerySet
from django.utils import timezone

ModelT = TypeVar("ModelT", bound=Model)

KICK_FLAG_TTL = 2
#: a process's kicker thread sends a kick at most this often (:class:`Kicker`)
KICK_WINDOW_SECONDS = 0.01

_local = threading.local()

logger = logging.getLogger(__name__)


def failed_work(
    query: QuerySet,
    *,
    worker_field: str,
    worker: str | None,
    event_type: str | None,
    tenant_id: str | None,
    since_field: str,
    since: datetime | None,
) -> QuerySet:
    """Narrow a query of failed work (dead letters, parked events) the way support filters
    it: by the subscriber or projector that failed, the event's type and shop, and since
    when; an empty filter is no filter."""
    if worker:
        query = query.filter(**{worker_field: worker})
    if event_type:
        query = query.filter(event__type=event_type)
    if tenant_id:
        query = query.filter(event__tenant_id=tenant_id)
    if since:
        query = query.filter(**{f"{since_field}__gte": since})
    return query


def retry_delay(attempt: int) -> float:
    """Exponential backoff with full jitter, capped: attempt 1 waits up to the base."""
    base = settings.EVENTS_RETRY_BASE_SECONDS
    cap = settings.EVENTS_RETRY_MAX_SECONDS
    ceiling = min(cap, base * 2 ** min(attempt - 1, 40))  # the cap wins long before 2**40
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def commit_without_flush() -> None:
    """Let the current transaction commit without waiting for its WAL flush.

    For bookkeeping that a crash may lose whole and simply redo (a claim's lease is
    retaken when it ends). A no-op outside PostgreSQL.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def execute_prepared(sql: str, params: dict[str, Any] | list[Any]) -> list[tuple]:
    """Run ``sql`` as a server-side prepared statement on Django's connection; fetch all.

    Same connection and transaction as the ORM. Django's own cursors bind on the client,
    which cannot prepare; this one binds on the server, so PostgreSQL parses the
    statement once per connection and, with the connection's settings (settings.py),
    plans it once too. Passes through the connection's execute wrappers
    (``connection.execute_wrapper``), so statement counters in tests see it.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the proxy ``connection`` costs a lookup per use
    db.ensure_connection()
    cursor = kept_cursor(db, sql)

    def run(sql, params, many, context):
        cursor.execute(sql, params, prepare=True)
        return fetched(cursor)

    executor = run
    context = {"connection": db, "cursor": cursor}
    for wrapper in reversed(db.execute_wrappers):
        executor = partial(wrapper, executor)
    return executor(sql, params, False, context)


#: statements a connection keeps a cursor for (the hot ones are a few dozen); past this the
#: oldest kept cursor is closed
KEPT_CURSORS = 128


def fetched(cursor: psycopg.Cursor) -> list[tuple]:
    """The rows the cursor's last statement returned; none for a statement without rows.

    Asks the result's status, not ``cursor.description``: psycopg builds that list of
    column objects anew on every access (≈ 10 % of the saga lane's CPU when each
    statement asked it; docs/performance.md).
    """
    result = cursor.pgresult
    if result is None or result.status != psycopg.pq.ExecStatus.TUPLES_OK:
        return []
    return cursor.fetchall()


def kept_cursor(db, sql: str | bytes, cursor_class: type[psycopg.Cursor] = psycopg.Cursor):
    """The psycopg cursor that runs ``sql`` on ``db``'s connection, kept with Django's
    wrapper while that connection lasts.

    A cursor running the same statement again keeps its adapters: the dumper found for
    each parameter's type and the loader for each column's, which a new cursor looks up
    again (with its construction: ≈ 13 % of the saga steps' CPU, ≈ 5 % of a new order's in
    the web process; docs/performance.md). A connection opened again gets new cursors. The
    cursor keeps its last result until it runs again: callers fetch what they need at once.
    """
    cursors = db.__dict__.setdefault("_kept_cursors", {})
    key = (cursor_class, sql)
    cursor = cursors.get(key)
    if cursor is None or cursor.closed or cursor.connection is not db.connection:
        if cursor is None and len(cursors) >= KEPT_CURSORS:
            cursors.pop(next(iter(cursors))).close()
        cursor = cursors[key] = cursor_class(db.connection)
    return cursor


def execute_planned(sql: str, params: dict[str, Any] | list[Any]) -> list[tuple]:
    """Run ``sql`` with its values in its text, so PostgreSQL plans it for them; fetch all.

    For a set-based statement whose best plan depends on what its parameters carry (a
    batch unpacked from one JSON document: how many rows, which ids): the generic plan
    a prepared statement keeps (settings.py) is made without the values, and the webhook
    sender's record ran ten times slower under one. Django's cursor binds on the client,
    so the statement is parsed and planned on every run — for a statement run once per
    batch, cheaper than a plan that misjudges the batch.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def model_from_row(model: type[ModelT], values) -> ModelT:
    """An instance from a raw row of all ``model``'s concrete columns, as the ORM loads it.

    For rows read by :func:`execute_prepared`: each column goes through its field's
    from-database converters (JSON, money, time zones), as a queryset's rows do.
    """
    db = connections[DEFAULT_DB_ALIAS]
    converted = list(values)
    for index, model_field, converters in _converters(model):
        value = converted[index]
        for converter in converters:
            value = converter(value, model_field, db)
        converted[index] = value
    return model.from_db(db.alias, None, converted)


@functools.cache
def _converters(model: type[Model]) -> list[tuple[int, Any, list]]:
    """(column index, field, from-database converters) of the model's converted fields."""
    return [
        (index, model_field, converters)
        for index, model_field in enumerate(model._meta.concrete_fields)
        if (converters := model_field.get_db_converters(connection))
    ]


@functools.cache
def _claim_sql(queue: WorkQueue) -> str:
    """:meth:`WorkQueue.claim`'s statement for ``queue`` (built once per queue)."""
    meta = queue.model._meta

    def column(name: str) -> str:
        return meta.pk.column if name == "pk" else meta.get_field(name).column

    status, due = column(queue.status_field), column(queue.due_field)
    lease, attempts = column(queue.lease_field), column(queue.attempts_field)
    order = ", ".join(
        f"t.{column(name.removeprefix('-'))}{' DESC' if name.startswith('-') else ''}"
        for name in queue.order_by
    )
    # commit without waiting for the flush (commit_without_flush), for this transaction only
    flush = (
        ""
        if queue.synchronous_claim
        else ", (SELECT set_config('synchronous_commit', 'off', true)) f"
    )
    table, pk = meta.db_table, meta.pk.column
    # the statuses as literals, not parameters: the plan is generic (settings.py), and only
    # a literal status proves the queue's partial index (``WHERE status IN (…)``) usable;
    # with a parameter the claim walked a whole other index (159 ms a claim in the bench)
    pending, running = _literal(queue.pending), _literal(queue.running)
    return f"""
WITH due AS (
    SELECT t.{pk} FROM {table} t
    WHERE (t.{status} = {pending} AND t.{due} <= %(now)s)
       OR (t.{status} = {running} AND t.{lease} < %(now)s)
    ORDER BY {order}
    LIMIT %(limit)s
    FOR UPDATE OF t SKIP LOCKED
)
UPDATE {table} t
SET {status} = {running}, {attempts} = t.{attempts} + 1, {lease} = %(lease_until)s
FROM due{flush}
WHERE t.{pk} = due.{pk}
RETURNING {", ".join(f"t.{f.column}" for f in meta.concrete_fields)}
"""  # noqa: S608 (table and column names come from the model, values are parameters)


def _literal(value: str) -> str:
    """``value`` as an SQL string literal (a queue's status: a constant of the code)."""
    return "'" + str(value).replace("'", "''") + "'"


def _sort_key(model: type[Model], order_by: tuple[str, ...]) -> Callable[[Model], tuple]:
    """Python's order for claimed rows as PostgreSQL's ``ORDER BY`` (NULLs last ascending)."""

    def key(row: Model) -> tuple:
        parts: list[Any] = []
        for name in order_by:
            value = getattr(row, name.removeprefix("-"))
            if name.startswith("-"):
                parts.append((value is not None, _Reversed(value) if value is not None else 0))
            else:
                parts.append((value is None, value if value is not None else 0))
        return tuple(parts)

    return key


class _Reversed:
    """Wraps a value so that sorting ascending orders it descending."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.value == self.value


# --- kicks ---
class Kick:
    """A coalesced, data-less wake-up of one Celery task, sent after commit.

    Full mode: ``cache.add`` of a flag (one Redis round trip) decides whether a kick is
    already waiting; only the first committer sends the task. The worker clears the
    flag as it starts (:meth:`received`), so commits after that kick again.
    ``queue`` (a name, or a function returning it, read when sent) overrides the task's
    route. Eager mode (embedded, tests): the task runs right here, unless this thread is
    already running it (:meth:`running`), in which case the running loop picks the
    work up.
    """

    def __init__(
        self,
        task: str,
        *,
        queue: str | Callable[[], str] | None = None,
        flag: str | None = None,
    ):
        self.task = task
        self.queue = queue
        self.flag = flag or f"orderflow:kick-pending:{task}"

    def __repr__(self) -> str:
        return f"Kick({self.task!r}, queue={self.queue!r})"

    def after_commit(self) -> None:
        """Kick once the current transaction commits (at once in autocommit)."""
        transaction.on_commit(self.now, robust=True)

    def now(self) -> None:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            if not self.is_running_here():  # else this thread's running loop picks it up
                self.send()
            return
        try:
            if cache.add(self.flag, 1, timeout=KICK_FLAG_TTL):
                self.send()
        except Exception:  # Redis or the broker down: any error, same answer
            # A kick is a hint: a lost one only waits for beat's sweep. Raising here would
            # end the drain that called it, and its claimed rows would wait for their lease.
            logger.warning("kick of %s not sent; the sweep will pick the work up", self.task)

    def soon(self) -> None:
        """Kick from this process's kicker thread (:class:`Kicker`): the caller does not wait.

        Every ask is followed by a kick sent after it, so a kick asked for after a commit
        still follows that commit; asks made close together share one kick. Eager mode,
        and inside a Celery task (a worker's child may exit before a thread's turn), this
        is :meth:`now`.
        """
        if settings.CELERY_TASK_ALWAYS_EAGER or current_task:
            self.now()
        else:
            KICKER.ask(self)

    def send(self) -> None:
        """Queue the task, uncoalesced (a hand-over, an invitation to share a backlog)."""
        task = current_app.tasks[self.task]
        queue = self.queue() if callable(self.queue) else self.queue
        if queue and not settings.CELERY_TASK_ALWAYS_EAGER:
            task.apply_async(queue=queue)
        else:
            task.delay()

    def received(self) -> None:
        """Clear the coalescing flag as a worker starts, so later commits kick again.

        With Redis down the flag expires on its own (``KICK_FLAG_TTL``): the work goes on.
        """
        try:
            cache.delete(self.flag)
        except Exception:  # see ``now``
            logger.warning("kick flag of %s not cleared; it expires by itself", self.task)

    @contextmanager
    def running(self) -> Iterator[None]:
        """Mark this thread as running the kicked task (see :meth:`now`)."""
        previous = getattr(_local, "running", frozenset())
        _local.running = previous | {self.task}
        try:
            yield
        finally:
            _local.running = previous

    def is_running_here(self) -> bool:
        return self.task in getattr(_local, "running", frozenset())


class Kicker:
    """A process's kicks, sent by a daemon thread of its own.

    A web request that commits an order asks for the lane's kick (:meth:`Kick.soon`) and
    answers at once: the kick's Redis round trip runs here, off the request. The thread
    takes every kick asked for so far and sends each once (:meth:`Kick.now`, coalesced
    through the cache flag as ever), then waits ``window`` seconds before it takes the
    next asks: at a hundred commits a second in one process that is one Redis round trip
    per ``window``, not one per commit. Each ask is taken after it was made, so its kick
    is sent after the commit that asked for it, as :meth:`Kick.now` after commit does; a
    kick lost anyway (the process killed in between) waits for beat's sweep, like one
    lost in the broker. At exit the asks not yet sent are sent (``atexit``); a forked
    child starts its own thread.
    """

    def __init__(self, window: float = KICK_WINDOW_SECONDS):
        self.window = window
        self._pid: int | None = None
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush)

    def _reset(self) -> None:
        self._condition = threading.Condition()
        self._asked: dict[Kick, None] = {}
        self._sending = False
        self._pid = None

    def ask(self, kick: Kick) -> None:
        with self._condition:
            self._asked[kick] = None
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="orderflow-kicker", daemon=True).start()
            self._condition.notify_all()

    def _take(self) -> list[Kick]:
        with self._condition:
            while not self._asked:
                self._condition.wait()
            asked, self._asked = list(self._asked), {}
            self._sending = True
        return asked

    def _run(self) -> None:
        try:
            while True:
                asked = self._take()
                try:
                    for kick in asked:
                        self._send(kick)
                finally:
                    with self._condition:
                        self._sending = False
                        self._condition.notify_all()
                time.sleep(self.window)
        finally:  # ended anyway (interpreter exit): the next ask starts another thread
            with self._condition:
                self._pid = None

    def flush(self, timeout: float = 5.0) -> None:
        """Send, here and now, every kick asked for before this call (at exit; tests).

        The thread's sends under way are waited for, ``timeout`` at most (a kick's Redis
        and broker calls have their own timeouts; exit must not hang on them).
        """
        with self._condition:
            self._condition.wait_for(lambda: not self._sending, timeout=timeout)
            asked, self._asked = list(self._asked), {}
        for kick in asked:
            self._send(kick)

    @staticmethod
    def _send(kick: Kick) -> None:
        """:meth:`Kick.now`, which never raises (a failed kick is logged; the sweep has it).

        Never an eager run: eager mode kicks in the committing thread (:meth:`Kick.soon`),
        so an ask found here in eager mode outlived a switch of mode (tests) and is dropped.
        """
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            kick.now()


KICKER = Kicker()


# --- the queue ---
@dataclass(frozen=True)
class Failure:
    """What a failed attempt does to its row: retry at ``next_at``, or dead letter."""

    will_retry: bool
    next_at: datetime | None
    #: the row's new field values (status, due time or dead time, lease cleared, error)
    fields: dict[str, Any]


class Batch(Protocol):
    @property
    def handled(self) -> int: ...

    def __iadd__(self, other: Any) -> Any: ...


B = TypeVar("B", bound=Batch)


@dataclass(frozen=True)
class WorkQueue:
    """A table of rows claimed with a lease (see the module docstring for the API)."""

    model: type[Model]
    kick: Kick
    pending: str
    running: str
    dead: str
    done: str | None = None
    status_field: str = "status"
    due_field: str = "available_at"
    lease_field: str = "lease_until"
    attempts_field: str = "attempts"
    error_field: str | None = "last_error"
    dead_at_field: str | None = None
    done_at_field: str | None = None
    order_by: tuple[str, ...] = ("available_at", "pk")
    #: None: settings.EVENTS_LEASE_SECONDS
    lease_seconds: float | None = None
    #: None: settings.EVENTS_MAX_ATTEMPTS
    max_attempts: int | None = None
    #: False: the claim commits without waiting for the WAL flush (a lost claim is
    #: simply retaken); True when the claim's flush must make rows durable first
    synchronous_claim: bool = True
    #: an extra condition on rows to claim (the ORM path), e.g. ordering constraints
    claim_filter: Callable[[], Q] | None = field(default=None, compare=False)

    # --- due and claim ---
    def due(self, now: datetime | None = None) -> Q:
        """Waiting and due, or claimed under a lease that ended (its worker died)."""
        now = now or timezone.now()
        return Q(**{self.status_field: self.pending, f"{self.due_field}__lte": now}) | Q(
            **{self.status_field: self.running, f"{self.lease_field}__lt": now}
        )

    def due_exists(self, now: datetime | None = None, queryset: QuerySet | None = None) -> bool:
        base = queryset if queryset is not None else self.model._default_manager.all()
        return base.filter(self.due(now)).exists()

    def lease_until(self, now: datetime, lease_seconds: float | None = None) -> datetime:
        seconds = lease_seconds or self.lease_seconds or settings.EVENTS_LEASE_SECONDS
        return now + timedelta(seconds=seconds)

    def claim(
        self,
        *,
        limit: int | None = None,
        now: datetime | None = None,
        queryset: QuerySet | None = None,
        lease_seconds: float | None = None,
    ) -> list:
        """Claim up to ``limit`` due rows: running, one more attempt, leased; in ``order_by``.

        ``queryset`` narrows the rows (and may ``select_related``); its own ordering is
        replaced by ``order_by``. Returns the rows as claimed (status, attempts and lease
        already updated on the instances).
        """
        limit = limit or settings.EVENTS_BATCH_SIZE
        now = now or timezone.now()
        lease_until = self.lease_until(now, lease_seconds)
        if queryset is None and self.claim_filter is None and connection.vendor == "postgresql":
            return self._claim_prepared(now=now, lease_until=lease_until, limit=limit)
        base = queryset if queryset is not None else self.model._default_manager.all()
        condition = self.due(now)
        if self.claim_filter is not None:
            condition &= self.claim_filter()
        with transaction.atomic():
            if not self.synchronous_claim:
                commit_without_flush()
            rows = list(
                base.filter(condition)
                .order_by(*self.order_by)
                .select_for_update(skip_locked=True, of=("self",))[:limit]
            )
            if not rows:
                return []
            self.model._default_manager.filter(pk__in=[row.pk for row in rows]).update(
                **{
                    self.status_field: self.running,
                    self.attempts_field: F(self.attempts_field) + 1,
                    self.lease_field: lease_until,
                }
            )
        for row in rows:
            self.mark_claimed(row, lease_until)
        return rows

    def _claim_prepared(self, *, now: datetime, lease_until: datetime, limit: int) -> list:
        """The claim as one prepared statement, its own transaction in autocommit.

        The same rows as the ORM's claim (BEGIN, SELECT … FOR UPDATE SKIP LOCKED, UPDATE,
        COMMIT: four round trips) in one; ``set_config(…, true)`` stands for
        :func:`commit_without_flush` and ends with the transaction.
        """
        rows = execute_prepared(
            _claim_sql(self),
            {
                "now": now,
                "lease_until": lease_until,
                "limit": limit,
            },
        )
        claimed = [model_from_row(self.model, row) for row in rows]
        claimed.sort(key=_sort_key(self.model, self.order_by))  # RETURNING keeps no order
        return claimed

    def mark_claimed(self, row: Model, lease_until: datetime) -> None:
        """Set on an instance what the claim set in its row (for a raw-SQL claim too)."""
        setattr(row, self.status_field, self.running)
        setattr(row, self.attempts_field, getattr(row, self.attempts_field) + 1)
        setattr(row, self.lease_field, lease_until)

    # --- outcomes ---
    def failure(
        self,
        attempts: int,
        *,
        retryable: bool,
        max_attempts: int | None = None,
        now: datetime | None = None,
        error: str = "",
    ) -> Failure:
        """Retry (backoff with jitter) or dead letter, as the fields to write to the row."""
        now = now or timezone.now()
        limit = max_attempts or self.max_attempts or settings.EVENTS_MAX_ATTEMPTS
        will_retry = retryable and attempts < limit
        next_at = now + timedelta(seconds=retry_delay(attempts)) if will_retry else None
        fields: dict[str, Any] = {self.lease_field: None}
        if will_retry:
            fields |= {self.status_field: self.pending, self.due_field: next_at}
        else:
            fields[self.status_field] = self.dead
            if self.dead_at_field:
                fields[self.dead_at_field] = now
        if self.error_field:
            fields[self.error_field] = error[:2000]
        return Failure(will_retry=will_retry, next_at=next_at, fields=fields)

    def fail(
        self,
        row: Model | Any,
        attempts: int,
        *,
        retryable: bool,
        max_attempts: int | None = None,
        now: datetime | None = None,
        error: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Failure:
        """Write :meth:`failure`'s fields (and ``extra``) to the row: one UPDATE."""
        outcome = self.failure(
            attempts, retryable=retryable, max_attempts=max_attempts, now=now, error=error
        )
        pk = row.pk if isinstance(row, Model) else row
        self.model._default_manager.filter(pk=pk).update(**outcome.fields, **(extra or {}))
        return outcome

    def done_fields(self, now: datetime | None = None) -> dict[str, Any]:
        if self.done is None:
            raise TypeError(f"{self!r} declares no done status")
        fields: dict[str, Any] = {self.status_field: self.done, self.lease_field: None}
        if self.done_at_field:
            fields[self.done_at_field] = now or timezone.now()
        return fields

    # --- the loop ---
    def drain(
        self,
        step: Callable[[], B],
        *,
        total: B,
        max_seconds: float | None = None,
        batch_size: int | None = None,
        idle: Callable[[B], bool] | None = None,
    ) -> B:
        """Run ``step`` (one batch) until it finds nothing or ``max_seconds`` pass.

        Clears the kick flag first and marks this thread as running the task, so eager
        kicks from inside do not re-enter. After a full batch (``handled`` reaching
        ``batch_size``) another worker is invited to share the backlog (coalesced).
        """
        self.kick.received()
        deadline = time.monotonic() + (max_seconds or settings.EVENTS_DRAIN_SECONDS)
        full = batch_size or settings.EVENTS_BATCH_SIZE
        is_idle = idle or (lambda batch: batch.handled == 0)
        with self.kick.running():
            while True:
                batch = step()
                total += batch
                if batch.handled >= full and not settings.CELERY_TASK_ALWAYS_EAGER:
                    self.kick.now()
                if is_idle(batch) or time.monotonic() > deadline:
                    return total

    def hand_over(self, queryset: QuerySet | None = None) -> bool:
        """After a drain: if work is still due (time ran out), queue the task again."""
        if settings.CELERY_TASK_ALWAYS_EAGER or not self.due_exists(queryset=queryset):
            return False
        self.kick.send()
        return True

    @property
    def table(self) -> str:
        return self.model._meta.db_table
