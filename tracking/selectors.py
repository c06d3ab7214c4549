"""Read queries for the board, the timelines and the API."""

from uuid import UUID

from django.db.models import Count, Max, Q, QuerySet

from . import payloads
from .models import TrackedOrder, TrackingEntry

BOARD_LIMIT = 100


def board_orders(
    *, shop_id: int | None = None, status: str = "", query: str = ""
) -> QuerySet[TrackedOrder]:
    orders = TrackedOrder.objects.all()
    if shop_id is not None:
        orders = orders.filter(shop_id=shop_id)
    if status:
        orders = orders.filter(status=status)
    if query:
        orders = orders.filter(Q(number__icontains=query) | Q(customer_email__icontains=query))
    return orders.order_by("-placed_at")


def board_counts(*, shop_id: int | None = None) -> dict[str, int]:
    orders = TrackedOrder.objects.all()
    if shop_id is not None:
        orders = orders.filter(shop_id=shop_id)
    return dict(orders.values_list("status").annotate(n=Count("pk")).order_by())


def board_watermark(*, shop_id: int | None = None) -> int:
    """The newest order-event entry in the board's scope: a page behind it must resync."""
    entries = TrackingEntry.objects.filter(aggregate="order")
    if shop_id is not None:
        entries = entries.filter(shop_id=shop_id)
    return entries.aggregate(last=Max("id"))["last"] or 0


def board_snapshot(*, shop_id: int | None = None, status: str = "", query: str = "") -> dict:
    # the watermark is read first, so the rows are at least as new as it says
    watermark = board_watermark(shop_id=shop_id)
    rows = board_orders(shop_id=shop_id, status=status, query=query)[:BOARD_LIMIT]
    return {
        "type": "snapshot",
        "watermark": watermark,
        "counts": board_counts(shop_id=shop_id),
        "rows": [payloads.board_row(tracked) for tracked in rows],
        "limit": BOARD_LIMIT,
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


def tracked_order_for_token(*, token: str) -> TrackedOrder | None:
    return TrackedOrder.objects.filter(tracking_token=token).first()
