"""``publish()``: write the event to the outbox inside the caller's transaction."""

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Max
from django.dispatch import Signal
from django.utils import timezone

from orderflow.correlation import get_correlation_id, new_correlation_id
from orderflow.models import OutboxEvent
from orderflow.observability import tracing

from .base import Event, UnknownEventType, event_types
from .context import current_causation_id
from .kick import relay_after_commit

#: Sent inside the publishing transaction for in-process, best-effort listeners
#: (metrics, live hints). Never the business path: subscribers get the outbox row.
event_published = Signal()


class PublishOutsideTransaction(RuntimeError):
    """``publish()`` was called in autocommit mode, where the event could outlive a rollback."""


def publish(
    event: Event,
    *,
    sequence: int | None = None,
    causation_id: str = "",
    idempotency_key: str = "",
) -> OutboxEvent:
    """Append ``event`` to the outbox in the current transaction and return its row.

    ``sequence`` is the event's position in its aggregate's history. A new aggregate
    passes 1; otherwise the next number is read, and the caller must hold the aggregate's
    row lock (every state change does), with a unique constraint as the last defence.
    Nothing leaves the process before commit: the relay is kicked by ``on_commit``.
    Inside :func:`deferred_publishing` (a saga step in the lane) the row is held and
    written by the step's last statement: until then its ``sequence`` is not known (None
    unless given), and ``event_published`` is sent when it is written.
    """
    cls = type(event)
    if event_types().get((cls.type, cls.version)) is not cls:
        raise UnknownEventType(f"{cls.__qualname__} is not a declared event type.")
    if not connection.in_atomic_block:
        raise PublishOutsideTransaction(
            "publish() must run inside transaction.atomic(), with the change it announces."
        )
    aggregate_id = event.aggregate_id
    now = timezone.now()
    row = OutboxEvent(
        type=cls.type,
        version=cls.version,
        aggregate=cls.aggregate,
        aggregate_id=aggregate_id,
        sequence=sequence,  # None: the next of the aggregate, taken by the insert
        tenant_id=event.tenant_id,
        correlation_id=get_correlation_id() or new_correlation_id(),
        causation_id=causation_id or current_causation_id(),
        idempotency_key=idempotency_key,
        # the publisher's span: every handler of the event continues its trace
        trace_context=tracing.current_trace_context(),
        data=event.to_data(),
        occurred_at=now,
        created_at=now,
    )
    if connection.vendor == "postgresql":
        deferred = _deferral()
        if deferred is not None:
            deferred.rows.append((row, event))  # written by the caller's statement, at its end
            relay_after_commit()
            return row
        _insert_prepared(row)
    else:
        if sequence is None:
            last = OutboxEvent.objects.filter(
                aggregate=cls.aggregate, aggregate_id=aggregate_id
            ).aggregate(last=Max("sequence"))["last"]
            row.sequence = (last or 0) + 1
        row.save(force_insert=True)
    relay_after_commit()  # a kick after commit (none in the lane: it relays next batch)
    event_published.send(sender=cls, event=event, row=row)
    return row


#: The outbox row as one prepared INSERT (the ORM would compile it on every event, ≈1 ms);
#: a sequence not given is the aggregate's next, read in the same statement (coalesce
#: evaluates the subquery only then). Built from the model, so a new column is written too.
_COLUMNS = list(OutboxEvent._meta.concrete_fields)
_TABLE = OutboxEvent._meta.db_table
_NEXT_SEQUENCE = (
    "coalesce(%(sequence)s::integer, (SELECT coalesce(max(o.sequence), 0) + 1 FROM "  # noqa: S608
    f"{_TABLE} o WHERE o.aggregate = %(aggregate)s::varchar "
    "AND o.aggregate_id = %(aggregate_id)s::varchar))"
)
_INSERT_SQL = (
    f"INSERT INTO {_TABLE} ({', '.join(f.column for f in _COLUMNS)}) "  # noqa: S608
    "VALUES ("
    + ", ".join(_NEXT_SEQUENCE if f.attname == "sequence" else f"%({f.attname})s" for f in _COLUMNS)
    + ") RETURNING sequence"
)


def _insert_prepared(row: OutboxEvent) -> None:
    from .workqueue import execute_prepared

    db = connections[DEFAULT_DB_ALIAS]
    params = {f.attname: f.get_db_prep_save(getattr(row, f.attname), db) for f in _COLUMNS}
    with db.wrap_database_errors:  # Django's IntegrityError, as the ORM raises it
        ((row.sequence,),) = execute_prepared(_INSERT_SQL, params)
    row._state.adding = False
    row._state.db = db.alias


# --- held rows: the saga lane writes a step's events with its inbox entry -------------
@dataclass
class Deferred:
    """The rows ``publish()`` held in this thread (see :func:`deferred_publishing`)."""

    #: the transaction depth they belong to: a publish under a savepoint opened since is
    #: written at once, so that rolling the savepoint back takes its row along
    depth: int
    rows: list[tuple[OutboxEvent, Event]] = field(default_factory=list)

    def write_now(self) -> None:
        """Write the held rows one by one (before a savepoint opens)."""
        rows, self.rows = self.rows, []
        for row, event in rows:
            _insert_prepared(row)
            event_published.send(sender=type(event), event=event, row=row)

    def params(self) -> tuple[tuple[bool, ...], dict[str, Any]]:
        """The held rows as :func:`deferred_insert_sql`'s shape and parameters, in order.

        The shape says, row by row, whether its sequence is a number (given by the
        publisher, or counted on from a number given earlier in the batch for its
        aggregate) or its rank among the held rows of its aggregate, which the statement
        adds to the aggregate's last sequence.
        """
        db = connections[DEFAULT_DB_ALIAS]  # the proxy ``connection`` costs a lookup per use
        params: dict[str, Any] = {}
        shape: list[bool] = []
        ranks: dict[tuple[str, str], int] = {}
        given: dict[tuple[str, str], int] = {}
        for index, (row, _) in enumerate(self.rows):
            key = (row.aggregate, row.aggregate_id)
            if row.sequence is not None:
                sequence, given[key] = row.sequence, row.sequence
            elif key in given:
                sequence = given[key] = given[key] + 1
            else:
                sequence = ranks[key] = ranks.get(key, 0) + 1
            shape.append(key in given)
            for f in _COLUMNS:
                value = sequence if f.attname == "sequence" else getattr(row, f.attname)
                params[f"{f.attname}_{index}"] = f.get_db_prep_save(value, db)
        return tuple(shape), params

    def written(self, sequences: dict) -> None:
        """The statement wrote the rows: their sequences, then the in-process signal."""
        alias = connections[DEFAULT_DB_ALIAS].alias
        for row, event in self.rows:
            row.sequence = sequences[row.event_id]
            row._state.adding = False
            row._state.db = alias
            event_published.send(sender=type(event), event=event, row=row)
        self.rows = []


_held = threading.local()


def _deferral() -> Deferred | None:
    """The rows held at the current transaction level (None under a newer savepoint)."""
    deferred = getattr(_held, "deferred", None)
    if deferred is None or _savepoints() != deferred.depth:
        return None
    return deferred


def _savepoints() -> int:
    """Savepoints open now: an ``atomic(savepoint=False)`` block opens none (Django notes
    it as None), and its failure dooms the whole transaction, held rows included."""
    return sum(1 for sid in connection.savepoint_ids if sid is not None)


@contextmanager
def deferred_publishing() -> Iterator[Deferred]:
    """Hold what ``publish()`` appends at this transaction level, for the caller to write.

    Inside ``transaction.atomic()`` on PostgreSQL. The caller writes the held rows with
    :func:`deferred_insert_sql` and :meth:`Deferred.params` in a statement of its own
    before the transaction ends, then calls :meth:`Deferred.written`: the saga lane writes
    a step's events with its inbox entry and done-mark, one round trip where each event
    was one more. Held rows are written at once, in order, before a savepoint is opened;
    a row published under a savepoint is written at once (its rollback takes it along).
    Sequences thus follow publishing order, a given one included. Rows still held when
    the block ends by an exception are dropped with their transaction.
    """
    previous = getattr(_held, "deferred", None)
    deferred = Deferred(depth=_savepoints())
    _held.deferred = deferred

    def write_before_a_savepoint(execute, sql, params, many, context):
        # a savepoint's rollback must not take held rows along, nor a row published under
        # it come before them: they are written first, at their own level
        if deferred.rows and str(sql).startswith("SAVEPOINT"):
            deferred.write_now()
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(write_before_a_savepoint):
            yield deferred
    finally:
        _held.deferred = previous


@functools.cache
def deferred_insert_sql(shape: tuple[bool, ...]) -> str:
    """The INSERT of the held rows, for a data-modifying ``WITH`` of the caller's statement.

    ``shape`` and the parameters come from :meth:`Deferred.params`: a row's sequence is
    either the number bound or its aggregate's last sequence plus the rank bound (the
    subqueries all see the table as it was before the insert), so several rows of one
    aggregate keep publishing order. ``RETURNING event_id, sequence``. PostgreSQL only;
    one statement text per shape, built once, from the model (a ``VALUES`` list plans and
    runs cheaper than rows unpacked from one document).
    """
    columns = ", ".join(f'"{f.column}"' for f in _COLUMNS)

    def value(f, index: int, numbered: bool) -> str:
        if f.attname != "sequence" or numbered:
            return f"%({f.attname}_{index})s"
        return (
            f"(SELECT coalesce(max(o.sequence), 0) FROM {_TABLE} o "  # noqa: S608 (the model's)
            f"WHERE o.aggregate = %(aggregate_{index})s::varchar "
            f"AND o.aggregate_id = %(aggregate_id_{index})s::varchar) "
            f"+ %(sequence_{index})s::integer"
        )

    rows = ", ".join(
        "(" + ", ".join(value(f, index, numbered) for f in _COLUMNS) + ")"
        for index, numbered in enumerate(shape)
    )
    return (
        f"INSERT INTO {_TABLE} ({columns}) VALUES {rows} "  # noqa: S608 (the model's names)
        "RETURNING event_id, sequence"
    )
