"""The event machinery's invariants: nothing stuck, nothing dead, every effect guarded."""

from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q

from orderflow.invariants import EXAMPLES, Result, Window, invariant
from orderflow.models import Delivery, DeliveryStatus, InboxEntry, OutboxEvent


@invariant(
    "events.nothing_stuck",
    "No outbox row waits to be relayed, and no delivery is due or holds an expired lease, "
    "for longer than the stuck threshold: kicks and the sweep keep the work moving.",
)
def nothing_stuck(window: Window, result: Result) -> None:
    unrelayed = OutboxEvent.objects.filter(published_at__isnull=True)
    open_deliveries = Delivery.objects.filter(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.RUNNING]
    )
    result.checked = unrelayed.count() + open_deliveries.count()
    stuck_events = unrelayed.filter(created_at__lt=window.stuck_before).order_by("created_at")
    result.found(
        stuck_events.count(),
        (f"{e} unrelayed since {e.created_at:%H:%M:%S}" for e in stuck_events[:EXAMPLES]),
    )
    stuck = open_deliveries.filter(
        Q(status=DeliveryStatus.PENDING, available_at__lt=window.stuck_before)
        | Q(status=DeliveryStatus.RUNNING, lease_until__lt=window.stuck_before)
    ).order_by("available_at")
    result.found(
        stuck.count(),
        (
            f"delivery {d.pk} to {d.subscriber} {d.status}, due {d.available_at:%H:%M:%S}"
            for d in stuck[:EXAMPLES]
        ),
    )


@invariant(
    "events.no_dead_letters",
    "No delivery of the window is a dead letter: a handler failed for good and its effect "
    "has not happened (fix the cause, then `manage.py replay_dead_letters`).",
)
def no_dead_letters(window: Window, result: Result) -> None:
    recent = Delivery.objects.filter(created_at__gte=window.since)
    dead = recent.filter(status=DeliveryStatus.DEAD).order_by("dead_at")
    result.checked = recent.count()
    result.found(
        dead.count(),
        (f"delivery {d.pk} to {d.subscriber}: {d.last_error[:120]}" for d in dead[:EXAMPLES]),
    )


@invariant(
    "events.done_has_inbox_entry",
    "Every delivery done in the window has its inbox entry: the mark that commits with the "
    "handler's effect and turns a redelivery into a no-op.",
)
def done_has_inbox_entry(window: Window, result: Result) -> None:
    done = Delivery.objects.filter(status=DeliveryStatus.DONE, done_at__gte=window.since)
    entry = InboxEntry.objects.filter(
        event_id=OuterRef("event_id"), subscriber=OuterRef("subscriber")
    )
    unguarded = done.filter(~Exists(entry)).order_by("done_at")
    result.checked = done.count()
    result.found(
        unguarded.count(),
        (f"delivery {d.pk} of {d.event_id} to {d.subscriber}" for d in unguarded[:EXAMPLES]),
    )


@invariant(
    "events.sequence_gap_free",
    "Each aggregate's events of the window are numbered without a gap or a repeat.",
)
def sequence_gap_free(window: Window, result: Result) -> None:
    aggregates = (
        OutboxEvent.objects.filter(created_at__gte=window.since)
        .values("aggregate", "aggregate_id")
        .annotate(low=Min("sequence"), high=Max("sequence"), rows=Count("pk"))
    )
    broken = aggregates.exclude(rows=F("high") - F("low") + 1).order_by("aggregate_id")
    result.checked = aggregates.count()
    result.found(
        broken.count(),
        (
            f"{a['aggregate']}:{a['aggregate_id']} has {a['rows']} events "
            f"numbered {a['low']}..{a['high']}"
            for a in broken[:EXAMPLES]
        ),
    )
