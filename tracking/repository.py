"""The tracking projector's statements: a fixed number per batch, whatever its size.

Each is one set-based statement over arrays (``unnest``), prepared on the server once
per connection (``prepare=True`` on a psycopg cursor of Django's own connection, so it
runs in the batch's transaction), with its effect keyed by a natural unique key:

- ``tracked_insert``  the rows of the batch's ``order.placed`` events (ON CONFLICT DO NOTHING)
- ``tracked_lock``    the batch's orders' rows, locked in a fixed order (FOR UPDATE)
- ``entries_insert``  every entry (ON CONFLICT (event_id) DO NOTHING RETURNING)
- ``tracked_move``    each moved order's live status, once (only if its sequence is newer)
- ``tracked_refund``  money given back, added once per refund event (batches that have one)

The ORM models stay the schema; on SQLite (embedded mode) the same functions run
through the ORM, a statement or so per row — that mode serves one person's demo.
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from psycopg.types.json import Jsonb

from orderflow.events.workqueue import execute_prepared, model_from_row

from .models import TrackedOrder, TrackingEntry
from .reactions import EntryRow

TRACKED = TrackedOrder._meta.db_table
ENTRY = TrackingEntry._meta.db_table
_TRACKED_COLUMNS = [f.column for f in TrackedOrder._meta.concrete_fields]


@dataclass(frozen=True)
class NewTrackedOrder:
    """An order's tracking row as its ``order.placed`` event tells it."""

    order_id: UUID
    shop_id: int
    shop_name: str
    number: str
    customer_name: str
    customer_email: str
    total: Decimal
    currency: str
    tracking_token: str
    status: str
    placed_at: datetime
    customer_locale: str = ""
    shop_email: str = ""
    #: ``[{"sku", "name", "quantity"}]``
    items: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Move:
    """An order's live status after a batch: the newest order event's sequence wins."""

    order_id: UUID
    status: str
    sequence: int
    updated_at: datetime
    carrier: str
    tracking_number: str
    customer_name: str
    customer_email: str
    outcome: dict[str, Any]
    delivery_issue: str
    return_status: str = ""
    #: ``TrackedOrder.parcels``, whole
    parcels: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: ``TrackedOrder.returns``, whole, and how many of them are open
    returns: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    open_returns: int = 0


@dataclass(frozen=True)
class Refund:
    """Money an order's customer got back: one ``payment.refunded`` event."""

    order_id: UUID
    amount: Decimal
    refunded_at: datetime


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _run(sql: str, params: list) -> list[tuple]:
    # a server-side-binding cursor of Django's connection (and transaction): Django's own
    # cursors bind on the client, which cannot prepare
    return execute_prepared(sql, params)


# --- tracked_insert ---------------------------------------------------------------------------
_INSERT_TRACKED = f"""
INSERT INTO {TRACKED} (order_id, shop_id, shop_name, number, customer_name, customer_email,
                       total, currency, tracking_token, carrier, tracking_number, status,
                       sequence, placed_at, updated_at, customer_locale, shop_email, items,
                       outcome, delivery_issue, refunded_amount)
SELECT n.order_id, n.shop_id, n.shop_name, n.number, n.customer_name, n.customer_email,
       n.total, n.currency, n.tracking_token, '', '', n.status, 0, n.placed_at, n.placed_at,
       n.customer_locale, n.shop_email, n.items, '{{}}'::jsonb, '', 0
FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[],
            %b::numeric[], %b::text[], %b::text[], %b::text[], %b::timestamptz[], %b::text[],
            %b::text[], %b::jsonb[])
     AS n(order_id, shop_id, shop_name, number, customer_name, customer_email, total,
          currency, tracking_token, status, placed_at, customer_locale, shop_email, items)
ON CONFLICT DO NOTHING
"""  # noqa: S608 (table names come from the models, values are parameters)


def tracked_insert(rows: list[NewTrackedOrder]) -> None:
    """Create the orders' tracking rows at sequence 0; a row that exists stays as it is."""
    if not rows:
        return
    if not _postgres():
        TrackedOrder.objects.bulk_create(
            [
                TrackedOrder(
                    **{k: getattr(row, k) for k in NewTrackedOrder.__dataclass_fields__},
                    outcome={},
                    sequence=0,
                    updated_at=row.placed_at,
                )
                for row in rows
            ],
            ignore_conflicts=True,
        )
        return
    _run(
        _INSERT_TRACKED,
        [
            [row.order_id for row in rows],
            [row.shop_id for row in rows],
            [row.shop_name for row in rows],
            [row.number for row in rows],
            [row.customer_name for row in rows],
            [row.customer_email for row in rows],
            [Decimal(row.total) for row in rows],
            [row.currency for row in rows],
            [row.tracking_token for row in rows],
            [row.status for row in rows],
            [row.placed_at for row in rows],
            [row.customer_locale for row in rows],
            [row.shop_email for row in rows],
            [Jsonb(list(row.items)) for row in rows],
        ],
    )


# --- tracked_lock -----------------------------------------------------------------------------
_LOCK_TRACKED = f"""
SELECT {", ".join(_TRACKED_COLUMNS)} FROM {TRACKED}
WHERE order_id = ANY(%b::uuid[])
ORDER BY order_id
FOR UPDATE
"""  # noqa: S608


def tracked_lock(order_ids: list[UUID]) -> dict[UUID, TrackedOrder]:
    """The orders' tracking rows that exist, locked (in order_id order: no deadlock)."""
    if not order_ids:
        return {}
    if not _postgres():
        rows = TrackedOrder.objects.select_for_update().filter(pk__in=order_ids).order_by("pk")
        return {row.order_id: row for row in rows}
    found = {}
    for values in _run(_LOCK_TRACKED, [list(order_ids)]):
        row = model_from_row(TrackedOrder, values)
        found[row.order_id] = row
    return found


# --- entries_insert ---------------------------------------------------------------------------
_INSERT_ENTRIES = f"""
INSERT INTO {ENTRY} (order_id, shop_id, event_id, event_type, aggregate, sequence, status,
                     occurred_at, source, actor, note, location, public, shipment_id,
                     tracking_number, recorded_at)
SELECT e.order_id, e.shop_id, e.event_id, e.event_type, e.aggregate, e.sequence, e.status,
       e.occurred_at, e.source, e.actor, e.note, e.location, e.public, e.shipment_id,
       e.tracking_number, %s
FROM unnest(%b::uuid[], %b::bigint[], %b::uuid[], %b::text[], %b::text[], %b::int[],
            %b::text[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[],
            %b::bool[], %b::uuid[], %b::text[])
     WITH ORDINALITY
     AS e(order_id, shop_id, event_id, event_type, aggregate, sequence, status,
          occurred_at, source, actor, note, location, public, shipment_id, tracking_number, n)
ORDER BY e.n
ON CONFLICT (event_id) DO NOTHING
RETURNING id, event_id, recorded_at
"""  # noqa: S608


def entries_insert(rows: list[EntryRow]) -> list[TrackingEntry]:
    """Insert the entries in the batch's order; return those new (an event seen before
    is skipped), as model instances."""
    if not rows:
        return []
    now = timezone.now()
    if not _postgres():
        known = set(
            TrackingEntry.objects.filter(
                event_id__in=[UUID(row.event_id) for row in rows]
            ).values_list("event_id", flat=True)
        )
        fresh = [_entry(row, recorded_at=now) for row in rows if UUID(row.event_id) not in known]
        for entry in fresh:  # one by one: SQLite gives ids back, in order
            entry.save(force_insert=True)
        return fresh
    created = {
        event_id: (pk, recorded_at)
        for pk, event_id, recorded_at in _run(
            _INSERT_ENTRIES,
            [
                now,
                [UUID(row.order_id) for row in rows],
                [row.shop_id for row in rows],
                [UUID(row.event_id) for row in rows],
                [row.event_type for row in rows],
                [row.aggregate for row in rows],
                [row.sequence for row in rows],
                [row.milestone for row in rows],
                [row.occurred_at for row in rows],
                [row.source for row in rows],
                [row.actor for row in rows],
                [row.note for row in rows],
                [row.location for row in rows],
                [row.public for row in rows],
                [UUID(row.shipment_id) if row.shipment_id else None for row in rows],
                [row.tracking_number for row in rows],
            ],
        )
    }
    fresh = []
    for row in rows:
        found = created.get(UUID(row.event_id))
        if found is not None:
            entry = _entry(row, recorded_at=found[1])
            entry.pk = found[0]
            fresh.append(entry)
    return fresh


def _entry(row: EntryRow, *, recorded_at: datetime) -> TrackingEntry:
    return TrackingEntry(
        order_id=UUID(row.order_id),
        shop_id=row.shop_id,
        event_id=UUID(row.event_id),
        event_type=row.event_type,
        aggregate=row.aggregate,
        sequence=row.sequence,
        status=row.milestone,
        occurred_at=row.occurred_at,
        source=row.source,
        actor=row.actor,
        note=row.note,
        location=row.location,
        public=row.public,
        shipment_id=UUID(row.shipment_id) if row.shipment_id else None,
        tracking_number=row.tracking_number,
        recorded_at=recorded_at,
    )


# --- tracked_move -----------------------------------------------------------------------------
_MOVE_TRACKED = f"""
UPDATE {TRACKED} t
SET status = n.status, sequence = n.sequence, updated_at = n.updated_at,
    carrier = n.carrier, tracking_number = n.tracking_number, customer_name = n.customer_name,
    customer_email = n.customer_email, outcome = n.outcome, delivery_issue = n.delivery_issue,
    return_status = n.return_status, parcels = n.parcels, returns = n.returns,
    open_returns = n.open_returns
FROM unnest(%b::uuid[], %b::text[], %b::int[], %b::timestamptz[], %b::text[], %b::text[],
            %b::text[], %b::text[], %b::jsonb[], %b::text[], %b::text[], %b::jsonb[],
            %b::jsonb[], %b::int[])
     AS n(order_id, status, sequence, updated_at, carrier, tracking_number, customer_name,
          customer_email, outcome, delivery_issue, return_status, parcels, returns,
          open_returns)
WHERE t.order_id = n.order_id AND t.sequence < n.sequence
RETURNING t.order_id
"""  # noqa: S608


def tracked_move(moves: list[Move]) -> set[UUID]:
    """Move each order's live status to its newest event; a row already as new or newer
    stays. Returns the orders moved."""
    if not moves:
        return set()
    if not _postgres():
        moved = set()
        for move in moves:
            if TrackedOrder.objects.filter(pk=move.order_id, sequence__lt=move.sequence).update(
                status=move.status,
                sequence=move.sequence,
                updated_at=move.updated_at,
                carrier=move.carrier,
                tracking_number=move.tracking_number,
                customer_name=move.customer_name,
                customer_email=move.customer_email,
                outcome=move.outcome,
                delivery_issue=move.delivery_issue,
                return_status=move.return_status,
                parcels=move.parcels,
                returns=move.returns,
                open_returns=move.open_returns,
            ):
                moved.add(move.order_id)
        return moved
    rows = _run(
        _MOVE_TRACKED,
        [
            [move.order_id for move in moves],
            [move.status for move in moves],
            [move.sequence for move in moves],
            [move.updated_at for move in moves],
            [move.carrier for move in moves],
            [move.tracking_number for move in moves],
            [move.customer_name for move in moves],
            [move.customer_email for move in moves],
            [Jsonb(move.outcome) for move in moves],
            [move.delivery_issue for move in moves],
            [move.return_status for move in moves],
            [Jsonb(move.parcels) for move in moves],
            [Jsonb(move.returns) for move in moves],
            [move.open_returns for move in moves],
        ],
    )
    return {order_id for (order_id,) in rows}


# --- tracked_refund ---------------------------------------------------------------------------
_REFUND_TRACKED = f"""
UPDATE {TRACKED} t
SET refunded_amount = t.refunded_amount + n.amount,
    refunded_at = GREATEST(t.refunded_at, n.refunded_at)
FROM (SELECT order_id, sum(amount) AS amount, max(refunded_at) AS refunded_at
      FROM unnest(%b::uuid[], %b::numeric[], %b::timestamptz[]) AS r(order_id, amount, refunded_at)
      GROUP BY order_id) AS n
WHERE t.order_id = n.order_id
RETURNING t.order_id, t.refunded_amount, t.refunded_at
"""  # noqa: S608


def tracked_refund(refunds: list[Refund]) -> dict[UUID, tuple[Decimal, datetime]]:
    """Add each refund to its order's refunded total (the caller passes only refunds not
    recorded before: an entry new in this batch). Returns each order's total and time after."""
    if not refunds:
        return {}
    if not _postgres():
        totals: dict[UUID, tuple[Decimal, datetime]] = {}
        for refund in refunds:
            TrackedOrder.objects.filter(pk=refund.order_id).update(
                refunded_amount=F("refunded_amount") + refund.amount,
                # SQLite's MAX() of a NULL is NULL: an order's first refund sets the time
                refunded_at=Greatest(
                    Coalesce(F("refunded_at"), Value(refund.refunded_at)), Value(refund.refunded_at)
                ),
            )
        for row in TrackedOrder.objects.filter(pk__in={r.order_id for r in refunds}):
            totals[row.order_id] = (row.refunded_amount, row.refunded_at)
        return totals
    rows = _run(
        _REFUND_TRACKED,
        [
            [refund.order_id for refund in refunds],
            [refund.amount for refund in refunds],
            [refund.refunded_at for refund in refunds],
        ],
    )
    return {order_id: (amount, at) for order_id, amount, at in rows}
