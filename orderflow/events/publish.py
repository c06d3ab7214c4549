"""``publish()``: write the event to the outbox inside the caller's transaction."""

from django.db import connection
from django.db.models import Max
from django.dispatch import Signal
from django.utils import timezone

from orderflow.correlation import get_correlation_id, new_correlation_id
from orderflow.models import Delivery, DeliveryStatus, OutboxEvent
from orderflow.observability import tracing

from .base import Event, UnknownEventType, event_types
from .context import current_causation_id
from .kick import LANE_KICK, relay_after_commit
from .subscribers import Subscriber, subscribers_for

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

    Published by a saga step running in the lane (PostgreSQL), the same statement also
    writes the event's deliveries, one per ``@subscriber``: the next step is due when
    this transaction commits, without waiting for a relay; the relay still gives the
    event its feed position (and finds its deliveries there already).
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
        _insert_prepared(row, subscribers_for(cls.type) if LANE_KICK.is_running_here() else [])
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
_INSERT = (
    f"INSERT INTO {_TABLE} ({', '.join(f.column for f in _COLUMNS)}) "  # noqa: S608
    "VALUES ("
    + ", ".join(_NEXT_SEQUENCE if f.attname == "sequence" else f"%({f.attname})s" for f in _COLUMNS)
    + ")"
)
_INSERT_SQL = f"{_INSERT} RETURNING sequence"


#: The same INSERT that also writes the event's deliveries (a saga step's publish): the
#: relay's rows, available now; the foreign key sees the event, checked at statement end.
_INSERT_WITH_DELIVERIES_SQL = f"""
WITH event AS ({_INSERT} RETURNING event_id, aggregate, aggregate_id, sequence),
delivery AS (
    INSERT INTO {Delivery._meta.db_table} (
        event_id, subscriber, aggregate, aggregate_id, sequence, ordered, priority, status,
        attempts, available_at, last_error, created_at, replayed_by
    )
    SELECT e.event_id, s.subscriber, e.aggregate, e.aggregate_id, e.sequence, s.ordered,
           s.priority, '{DeliveryStatus.PENDING}', 0, %(created_at)s, '', %(created_at)s, ''
    FROM event e, unnest(%(d_subscriber)s::text[], %(d_ordered)s::boolean[],
                         %(d_priority)s::smallint[]) AS s(subscriber, ordered, priority)
)
SELECT sequence FROM event
"""  # noqa: S608 (the models' tables; values are parameters)


def _insert_prepared(row: OutboxEvent, subscribers: list[Subscriber]) -> None:
    from .workqueue import execute_prepared

    params = {f.attname: f.get_db_prep_save(getattr(row, f.attname), connection) for f in _COLUMNS}
    sql = _INSERT_SQL
    if subscribers:
        sql = _INSERT_WITH_DELIVERIES_SQL
        params["d_subscriber"] = [sub.name for sub in subscribers]
        params["d_ordered"] = [sub.ordered for sub in subscribers]
        params["d_priority"] = [int(sub.priority) for sub in subscribers]
    with connection.wrap_database_errors:  # Django's IntegrityError, as the ORM raises it
        ((row.sequence,),) = execute_prepared(sql, params)
    row._state.adding = False
    row._state.db = connection.alias
