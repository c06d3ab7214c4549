"""Read queries for the board, the timelines and the API."""

from datetime import datetime
from uuid import UUID

from django.db import connection
from django.db.models import CharField, Count, Max, Q, QuerySet, Value

from orderflow.events.workqueue import execute_prepared, model_from_row

from . import payloads, queues
from .models import OrderNote, TrackedOrder, TrackingEntry

#: rows per board page
PAGE_SIZE = 50
#: what the board's search matches, each by a case-insensitive prefix (see the model's indexes)
SEARCHED_FIELDS = ("number", "customer_name", "customer_email", "tracking_number")


def board_search(query: str) -> Q:
    """Match ``query`` as the start of an order number, customer name or e-mail, or tracking
    number, ignoring case. A prefix, not a substring: the indexes serve a prefix, and
    substring search over every order would need pg_trgm, which this project does not use.
    """
    found = Q()
    for name in SEARCHED_FIELDS:
        found |= Q(**{f"{name}__istartswith": query})
    return found


def board_orders(
    *, shop_id: int | None = None, status: str = "", query: str = "", queue: str = ""
) -> QuerySet[TrackedOrder]:
    orders = TrackedOrder.objects.all()
    if shop_id is not None:
        orders = orders.filter(shop_id=shop_id)
    if status:
        orders = orders.filter(status=status)
    if work_queue := queues.queue_get(queue):
        orders = orders.filter(work_queue.where)
    if query:
        orders = orders.filter(board_search(query))
    # the order id breaks ties of placed_at, so that pages neither repeat nor skip a row
    return orders.order_by("-placed_at", "-order_id")


#: the key of an other queue's count among the statuses' (no status has a colon)
_OTHER_QUEUE_KEY = "queue:{slug}"


def board_tallies(*, shop_id: int | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """The orders per status and per work queue, and the items of each queue that is not
    board rows (stuck work), in one query.

    The orders are grouped by status with a count per queue; each other queue adds one row
    to the result (``UNION ALL``) keyed ``queue:<slug>`` with its items' count. One round
    trip instead of one per other queue, and each part keeps its own plan: the board page
    stays at nine queries (``test_the_board_runs_a_fixed_number_of_queries_whatever_the_page``).
    """
    orders = TrackedOrder.objects.all()
    if shop_id is not None:
        orders = orders.filter(shop_id=shop_id)
    per_queue = {
        f"queue_{index}": Count("pk", filter=queue.where)
        for index, queue in enumerate(queues.ROW_QUEUES)
    }
    groups = orders.values("status").annotate(n=Count("pk"), **per_queue).order_by()
    if queues.OTHER_QUEUES:
        nothing_per_queue = {name: Value(0) for name in per_queue}
        others = [
            queue.items(shop_id)
            .order_by()
            .values(
                tally_key=Value(_OTHER_QUEUE_KEY.format(slug=queue.slug), output_field=CharField())
            )
            .annotate(n=Count("pk"), **nothing_per_queue)
            for queue in queues.OTHER_QUEUES
        ]
        groups = groups.union(*others, all=True)
    statuses: dict[str, int] = {}
    in_queues = dict.fromkeys((queue.slug for queue in queues.ROW_QUEUES), 0)
    other_keys = {
        _OTHER_QUEUE_KEY.format(slug=queue.slug): queue.slug for queue in queues.OTHER_QUEUES
    }
    for group in groups:
        if group["status"] in other_keys:
            in_queues[other_keys[group["status"]]] = group["n"]
            continue
        statuses[group["status"]] = group["n"]
        for index, queue in enumerate(queues.ROW_QUEUES):
            in_queues[queue.slug] += group[f"queue_{index}"]
    return statuses, in_queues


def board_watermark(*, shop_id: int | None = None) -> int:
    """The newest order-event entry in the board's scope: a page behind it must resync."""
    entries = TrackingEntry.objects.filter(aggregate="order")
    if shop_id is not None:
        entries = entries.filter(shop_id=shop_id)
    return entries.aggregate(last=Max("id"))["last"] or 0


def board_snapshot(
    *,
    shop_id: int | None = None,
    status: str = "",
    query: str = "",
    queue: str = "",
    page: int = 1,
    until: datetime | None = None,
) -> dict:
    """One page of the board: its rows, the counts per status, and where the page stands.

    Page 1 is the newest orders, live. A later page is anchored at ``until`` (when it was
    first shown): it pages over the orders placed by then, so orders placed since do not
    push its rows down; they are counted as ``newer`` instead. A page past the end is the
    last page. Four queries, whatever the page size: the watermark, the totals (by the
    search's prefix indexes), the rows, and the counts per status and per queue.
    """
    # the watermark is read first, so the rows are at least as new as it says
    watermark = board_watermark(shop_id=shop_id)
    matching = board_orders(shop_id=shop_id, status=status, query=query, queue=queue)
    if until is not None and page > 1:
        totals = matching.aggregate(
            total=Count("pk", filter=Q(placed_at__lte=until)),
            newer=Count("pk", filter=Q(placed_at__gt=until)),
        )
    else:
        totals = {**matching.aggregate(total=Count("pk")), "newer": 0}
    total = totals["total"]
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(page, pages)
    if number == 1:
        # the first page is the newest orders, whatever was asked: all of them count
        until, newer, total = None, 0, total + totals["newer"]
    else:
        newer = totals["newer"]
        matching = matching.filter(placed_at__lte=until) if until is not None else matching
    offset = (number - 1) * PAGE_SIZE
    rows = [payloads.board_row(tracked) for tracked in matching[offset : offset + PAGE_SIZE]]
    counts, queue_counts = board_tallies(shop_id=shop_id)
    return {
        "type": "snapshot",
        "watermark": watermark,
        "counts": counts,
        "queues": queue_counts,
        "rows": rows,
        "limit": PAGE_SIZE,
        "page": {
            "number": number,
            "pages": pages,
            "size": PAGE_SIZE,
            "total": total,
            "first": offset + 1 if rows else 0,
            "last": offset + len(rows),
            "newer": newer,
            "until": until.isoformat() if until is not None else "",
        },
    }


def entries_for_order(*, order_id: UUID, public_only: bool = False) -> QuerySet[TrackingEntry]:
    entries = TrackingEntry.objects.filter(order_id=order_id)
    if public_only:
        entries = entries.filter(public=True)
    return entries.order_by("occurred_at", "id")


def order_watermark(*, order_id: UUID, public_only: bool = False) -> int:
    return (
        entries_for_order(order_id=order_id, public_only=public_only).aggregate(last=Max("id"))[
            "last"
        ]
        or 0
    )


def timeline_snapshot(*, tracked: TrackedOrder) -> dict:
    """The staff timeline of one order, from PostgreSQL."""
    watermark = order_watermark(order_id=tracked.order_id)
    entries = entries_for_order(order_id=tracked.order_id).filter(id__lte=watermark)
    return {
        "type": "snapshot",
        "watermark": watermark,
        "order": payloads.live_status_payload(payloads.live_status_of(tracked)),
        "entries": [payloads.staff_entry(entry) for entry in entries],
    }


def tracked_order_get(*, order_id: UUID) -> TrackedOrder | None:
    return TrackedOrder.objects.filter(pk=order_id).first()


_TRACKED_FOR_TOKEN = "SELECT {} FROM {} WHERE tracking_token = %s".format(  # noqa: S608
    ", ".join(field.column for field in TrackedOrder._meta.concrete_fields),
    TrackedOrder._meta.db_table,
)


def tracked_order_for_token(*, token: str) -> TrackedOrder | None:
    """The row a public page or socket opens with (twice per socket: before it joins the
    order's group and in its snapshot after): a prepared statement on PostgreSQL. A token
    with a NUL byte finds nothing (PostgreSQL refuses NUL in text: an error, not a miss)."""
    if "\x00" in token:
        return None
    if connection.vendor != "postgresql":
        return TrackedOrder.objects.filter(tracking_token=token).first()
    rows = execute_prepared(_TRACKED_FOR_TOKEN, [token])
    return model_from_row(TrackedOrder, rows[0]) if rows else None


def notes_for_order(*, order_id: UUID) -> QuerySet[OrderNote]:
    return OrderNote.objects.filter(order_id=order_id).order_by("created_at", "id")


def customer_other_orders(*, tracked: TrackedOrder, limit: int) -> QuerySet[TrackedOrder]:
    """The same customer's other orders in the same shop (the e-mail, ignoring case)."""
    return (
        TrackedOrder.objects.filter(
            shop_id=tracked.shop_id, customer_email__iexact=tracked.customer_email
        )
        .exclude(pk=tracked.order_id)
        .order_by("-placed_at", "-order_id")[:limit]
    )
