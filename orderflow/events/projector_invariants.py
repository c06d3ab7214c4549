"""The projectors' invariants: none left behind the feed, no event parked unnoticed."""

from orderflow.invariants import EXAMPLES, Result, Window, invariant
from orderflow.models import OutboxEvent, ParkedEvent, ProjectorCheckpoint

from .projectors import all_projectors


@invariant(
    "events.projectors_caught_up",
    "No projector is behind the feed on an event (of a type it reads) committed before the "
    "stuck threshold: kicks after each relay and the sweep keep every projector current.",
)
def projectors_caught_up(window: Window, result: Result) -> None:
    projectors = all_projectors()
    positions = dict(
        ProjectorCheckpoint.objects.filter(name__in=[p.name for p in projectors]).values_list(
            "name", "position"
        )
    )
    result.checked = len(projectors)
    for p in projectors:
        oldest = (
            OutboxEvent.objects.filter(
                position__gt=positions.get(p.name, 0),
                type__in=p.event_types,
                created_at__lt=window.stuck_before,
            )
            .order_by("position")
            .first()
        )
        if oldest is not None:
            result.found(
                1,
                [
                    f"projector {p.name} at {positions.get(p.name, 0)} has not applied "
                    f"{oldest} (position {oldest.position}, committed "
                    f"{oldest.created_at:%H:%M:%S})"
                ],
            )


@invariant(
    "events.no_parked_events",
    "No event of the window is parked by a projector: a projector failed on it for good and "
    "its effect has not happened (fix the cause, then `manage.py replay_dead_letters`).",
)
def no_parked_events(window: Window, result: Result) -> None:
    recent = ParkedEvent.objects.filter(parked_at__gte=window.since)
    parked = recent.filter(replayed_at__isnull=True).select_related("event").order_by("parked_at")
    result.checked = recent.count()
    result.found(
        parked.count(),
        (
            f"{p.event.type} {p.event_id} parked by {p.projector}: {p.error[:120]}"
            for p in parked[:EXAMPLES]
        ),
    )
