"""The tracking context's invariants: each order's history is gap-free and tells its status."""

from django.db.models import CharField, Count, F, IntegerField, Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import Cast, Coalesce

from orderflow.invariants import EXAMPLES, Result, Window, invariant
from orderflow.models import OutboxEvent
from orders.interface import order_status

from .models import TrackedOrder

ORDER = "order"


@invariant(
    "tracking.history_gap_free",
    "Each tracked order's history holds the order's events 1..n once each, and the "
    "tracked row has applied the last of them.",
)
def history_gap_free(window: Window, result: Result) -> None:
    own = Q(entries__aggregate=ORDER)
    tracked = TrackedOrder.objects.filter(placed_at__gte=window.since).annotate(
        entries_n=Count("entries", filter=own),
        distinct_n=Count("entries__sequence", filter=own, distinct=True),
        low=Min("entries__sequence", filter=own),
        high=Coalesce(Max("entries__sequence", filter=own), 0),
    )
    broken = tracked.filter(
        ~Q(entries_n=F("distinct_n"))
        | Q(entries_n__gt=0, low__gt=1)
        | ~Q(high=F("distinct_n"))
        | ~Q(sequence=F("high"))
    ).order_by("placed_at")
    result.checked = tracked.count()
    result.found(
        broken.count(),
        (
            f"order {t.order_id} ({t.number}): {t.entries_n} entries numbered "
            f"{t.low}..{t.high}, applied up to {t.sequence}"
            for t in broken[:EXAMPLES]
        ),
    )


@invariant(
    "tracking.matches_order",
    "Tracking keeps up with each order: its row has applied the order's last event unless "
    "that event is younger than the stuck threshold, and then shows the order's status "
    "(the newest tracked orders, up to --max-rows, are compared).",
)
def matches_order(window: Window, result: Result) -> None:
    last_event = OutboxEvent.objects.filter(
        aggregate=ORDER, aggregate_id=Cast(OuterRef("order_id"), CharField())
    ).order_by("-sequence")
    tracked = (
        TrackedOrder.objects.filter(placed_at__gte=window.since)
        .annotate(
            last_sequence=Subquery(last_event.values("sequence")[:1], output_field=IntegerField()),
            last_at=Subquery(last_event.values("created_at")[:1]),
        )
        .order_by("-placed_at")[: window.max_rows]
    )
    behind, astray = [], []
    for row in tracked:
        result.checked += 1
        if row.last_sequence is not None and row.sequence < row.last_sequence:
            if row.last_at < window.stuck_before:
                behind.append(f"order {row.order_id}: applied {row.sequence}/{row.last_sequence}")
            continue
        status = order_status(order_id=row.order_id)
        if status is not None and status != row.status:
            astray.append(f"order {row.order_id}: tracked {row.status}, order {status}")
    result.found(len(behind), behind[:EXAMPLES])
    result.found(len(astray), astray[:EXAMPLES])
