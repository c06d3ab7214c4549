"""Recording a batch of the committed feed: history, live status, and one push per order.

The projector engine hands over a batch of events in feed order, inside one transaction;
this applies it with a fixed number of statements (``tracking.repository``) whatever its
size, and after commit pushes once per order (its new entries as a list) and once per
board group (its changed rows), and writes the moved orders' live snapshots in one
Redis pipeline. Applying the same batch again changes nothing and pushes nothing: every
effect is keyed by the event id or guarded by the order's sequence.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from uuid import UUID

from django.db import transaction

from orderflow.events import PermanentError
from orders import interface as orders_interface

from .. import payloads, push, queues, repository
from ..live_status import live_status_set_many
from ..models import TrackedOrder, TrackingEntry
from ..reactions import (
    PARCEL,
    REACTIONS,
    RESOLVED_PARCEL,
    RETURN,
    EntryRow,
    delivery_issue_of,
    entry_row,
    merge_parcel,
    merge_return,
    open_returns,
    resolve_parcel,
)
from .recording import tracked_order_ensure


@dataclass
class OrderChange:
    """What a batch did to one order: its new entries, and its row before and after."""

    tracked: TrackedOrder
    previous_status: str
    previous_sequence: int
    #: the work queues the row was in before the batch (``queues.row_queues``)
    previous_queues: list[str] = field(default_factory=list)
    entries: list[TrackingEntry] = field(default_factory=list)
    moved: bool = False
    #: money went back to the customer in this batch (the customer's page says so, live)
    refunded: bool = False


def tracking_project(*, events: Sequence) -> dict[UUID, OrderChange]:
    """Apply a batch of ``FeedEvent``s (feed order) in the caller's transaction."""
    events = [event for event in events if event.type in REACTIONS]
    if not events:
        return {}
    rows = [entry_row(event, actor_lookup=_actor_lookup) for event in events]
    repository.tracked_insert(_placed_rows(events))
    order_ids = sorted({UUID(row.order_id) for row in rows})
    tracked = repository.tracked_lock(order_ids)
    missing = [order_id for order_id in order_ids if order_id not in tracked]
    if missing:  # rare: an event of an order whose order.placed carried no facts, or none yet
        tracked.update(_tracked_from_orders(missing))
    fresh = repository.entries_insert(rows)
    changes = {  # in the order the batch first names each order
        order_id: OrderChange(
            tracked=tracked[order_id],
            previous_status=tracked[order_id].status,
            previous_sequence=tracked[order_id].sequence,
            previous_queues=queues.row_queues(tracked[order_id]),
        )
        for order_id in dict.fromkeys(UUID(row.order_id) for row in rows)
    }
    for entry in fresh:
        changes[entry.order_id].entries.append(entry)
    moves = moves_of(tracked, rows_by_id=_fresh_rows(rows, fresh))
    for order_id in repository.tracked_move(list(moves.values())):
        move = moves[order_id]
        change = changes[order_id]
        change.moved = True
        row = change.tracked
        row.status, row.sequence, row.updated_at = move.status, move.sequence, move.updated_at
        row.carrier, row.tracking_number = move.carrier, move.tracking_number
        row.customer_name, row.customer_email = move.customer_name, move.customer_email
        row.outcome, row.delivery_issue = move.outcome, move.delivery_issue
        row.return_status = move.return_status
        row.parcels = move.parcels
        row.returns, row.open_returns = move.returns, move.open_returns
    refunds = repository.tracked_refund(_refunds(events, fresh))
    for order_id, (amount, refunded_at) in refunds.items():
        change = changes[order_id]
        change.refunded = True
        change.tracked.refunded_amount, change.tracked.refunded_at = amount, refunded_at
    changed = {order_id: c for order_id, c in changes.items() if c.entries or c.moved}
    if changed:
        batch = list(changed.values())
        # two callbacks: a Redis that fails the snapshots does not hold back the pushes
        transaction.on_commit(partial(_snapshots_after_commit, batch), robust=True)
        transaction.on_commit(partial(_pushes_after_commit, batch), robust=True)
    return changed


def moves_of(
    tracked: dict[UUID, TrackedOrder], *, rows_by_id: dict[UUID, list[EntryRow]]
) -> dict[UUID, repository.Move]:
    """Each order's live status after its new order events, in sequence order; an event at
    or below the sequence already applied (stale) moves nothing."""
    moves = {}
    for order_id, rows in rows_by_id.items():
        current = tracked[order_id]
        state = {
            "status": current.status,
            "sequence": current.sequence,
            "updated_at": current.updated_at,
            "carrier": current.carrier,
            "tracking_number": current.tracking_number,
            "customer_name": current.customer_name,
            "customer_email": current.customer_email,
            "outcome": current.outcome,
            "delivery_issue": current.delivery_issue,
            "return_status": current.return_status,
            "parcels": list(current.parcels or []),
            "returns": list(current.returns or []),
        }
        for row in sorted(rows, key=lambda r: r.sequence):
            if not row.moves_status or row.sequence <= state["sequence"]:
                continue
            state["sequence"], state["updated_at"] = row.sequence, row.occurred_at
            if row.status:
                state["status"] = row.status
            for name, value in row.tracked:
                if name == PARCEL:
                    state["parcels"] = merge_parcel(state["parcels"], value)
                elif name == RESOLVED_PARCEL:
                    state["parcels"] = resolve_parcel(state["parcels"], value)
                elif name == RETURN:
                    state["returns"] = merge_return(state["returns"], value)
                else:
                    state[name] = value
            if any(name in (PARCEL, RESOLVED_PARCEL) for name, _ in row.tracked):
                state["delivery_issue"] = delivery_issue_of(
                    state["parcels"], news=state["delivery_issue"]
                )
        if state["sequence"] > current.sequence:
            moves[order_id] = repository.Move(
                order_id=order_id, **state, open_returns=_open_returns(current, state["returns"])
            )
    return moves


def _open_returns(current: TrackedOrder, returns: list[dict]) -> int:
    """The row's open returns; a row whose returns were told before they had their own
    facts counts its latest return's status, as it did."""
    if returns:
        return open_returns(returns)
    return current.open_returns


def _fresh_rows(rows: list[EntryRow], fresh: list[TrackingEntry]) -> dict[UUID, list[EntryRow]]:
    """The rows whose entry is new, by order (an event recorded before moves nothing again)."""
    new_ids = {str(entry.event_id) for entry in fresh}
    by_order: dict[UUID, list[EntryRow]] = {}
    for row in rows:
        if row.event_id in new_ids:
            by_order.setdefault(UUID(row.order_id), []).append(row)
    return by_order


def _placed_rows(events: Iterable) -> list[repository.NewTrackedOrder]:
    """The tracking rows the batch's ``order.placed`` events carry all the facts for."""
    placed = []
    for event in events:
        data = event.data
        if event.type != "order.placed" or not (
            data.get("shop_name") and data.get("tracking_token")
        ):
            continue  # an event stored before these facts: the orders context tells them
        placed.append(
            repository.NewTrackedOrder(
                order_id=UUID(str(data["order_id"])),
                shop_id=int(data["shop_id"]),
                shop_name=data["shop_name"],
                number=data["number"],
                customer_name=data.get("customer_name", ""),
                customer_email=data["customer_email"],
                total=Decimal(str(data["total"])),
                currency=data["currency"],
                tracking_token=data["tracking_token"],
                status=data.get("status") or REACTIONS["order.placed"].legacy_status,
                placed_at=event.occurred_at,
                # None: the event predates the fact (not "empty": a shop may have no
                # contact address), and the batch's one read of the orders context fills it
                customer_locale=data["customer_locale"][:5] if "customer_locale" in data else None,
                shop_email=data.get("shop_email"),
                items=tuple(
                    {
                        "sku": line["sku"],
                        "name": line.get("name"),
                        "quantity": int(line["quantity"]),
                    }
                    for line in data.get("lines", ())
                ),
            )
        )
    return _with_page_facts(placed)


def _with_page_facts(placed: list[repository.NewTrackedOrder]) -> list[repository.NewTrackedOrder]:
    """Fill what the customer's page shows from the orders context, once for the batch, for
    the ``order.placed`` events that do not carry it (the shop's contact, the items' names,
    the customer's language): events stored before these facts."""
    lacking = [
        row.order_id
        for row in placed
        if row.shop_email is None
        or row.customer_locale is None
        or any(item["name"] is None for item in row.items)
    ]
    facts = orders_interface.order_page_facts(order_ids=lacking) if lacking else {}
    return [_filled(row, facts.get(row.order_id)) for row in placed]


def _filled(row: repository.NewTrackedOrder, facts) -> repository.NewTrackedOrder:
    """``row`` with what its event lacked taken from ``facts`` (or left blank)."""
    if facts is not None:
        return replace(
            row,
            customer_locale=row.customer_locale or facts.customer_locale,
            shop_email=row.shop_email or facts.shop_email,
            items=tuple(
                {"sku": sku, "name": name, "quantity": quantity}
                for sku, name, quantity in facts.items
            ),
        )
    return replace(
        row,
        customer_locale=row.customer_locale or "",
        shop_email=row.shop_email or "",
        items=tuple({**item, "name": item["name"] or ""} for item in row.items),
    )


def _refunds(events: Sequence, fresh: list[TrackingEntry]) -> list[repository.Refund]:
    """The batch's ``payment.refunded`` events recorded now for the first time."""
    new_ids = {str(entry.event_id) for entry in fresh}
    return [
        repository.Refund(
            order_id=UUID(str(event.data["order_id"])),
            amount=Decimal(str(event.data["amount"])),
            refunded_at=event.occurred_at,
        )
        for event in events
        if event.type == "payment.refunded" and str(event.event_id) in new_ids
    ]


def _tracked_from_orders(order_ids: list[UUID]) -> dict[UUID, TrackedOrder]:
    created = {}
    for order_id in order_ids:
        if tracked_order_ensure(order_id=order_id) is None:
            # no retry will make the order appear: the engine parks the event at once
            raise PermanentError(f"Order {order_id} does not exist.")
    created.update(repository.tracked_lock(order_ids))
    return created


def _actor_lookup(order_id: str, status: str) -> str | None:
    """Who moved the order into ``status``, for an event stored before the ``actor`` fact."""
    return orders_interface.order_transition_actor(order_id=UUID(order_id), status=status)


# --- after commit: one push per order and per board group, one Redis pipeline ----------------
def _snapshots_after_commit(changes: list[OrderChange]) -> None:
    moved = [change.tracked for change in changes if change.moved]
    if moved:
        live_status_set_many([(row.order_id, payloads.live_status_of(row)) for row in moved])


def _pushes_after_commit(changes: list[OrderChange]) -> None:
    push.send(push.batch_messages(changes))
