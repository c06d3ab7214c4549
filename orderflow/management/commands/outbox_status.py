from django.core.management.base import BaseCommand

from orderflow.events.maintenance import outbox_status
from orderflow.events.projectors import parked_count, projectors_status


def _age(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.1f} s"


class Command(BaseCommand):
    help = (
        "Print the event backlog: unrelayed events, deliveries due and in flight, dead "
        "letters, and each projector's checkpoint, lag and parked events."
    )

    def handle(self, *args, **options):
        status = outbox_status()
        projectors = projectors_status()
        parked = parked_count()
        rows = [
            ("events not yet relayed", status.unrelayed),
            ("oldest not yet relayed", _age(status.oldest_unrelayed_age)),
            ("oldest undelivered", _age(status.oldest_undelivered_age)),
            ("deliveries in flight", status.in_flight),
            ("deliveries due now", status.due),
            ("retries scheduled", status.scheduled_retries),
            ("dead letters", status.dead_letters),
            ("parked events", parked),
        ]
        for projector in projectors:
            rows.append((f"projector {projector.name}", _projector_line(projector)))
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.stdout.write(f"{label:<{width}}  {value}")
        if status.dead_letters or parked:
            self.stdout.write(
                self.style.WARNING(
                    "Dead letters and parked events need a look: admin → Dead letters / "
                    "Parked events, /staff/failed-events, or "
                    "`manage.py replay_dead_letters --dry-run`."
                )
            )


def _projector_line(projector) -> str:
    line = f"at {projector.position}, {projector.lag} behind, {projector.parked} parked"
    if projector.failing_event_id:
        when = projector.retry_at.isoformat() if projector.retry_at else "now"
        line += (
            f"; event {projector.failing_event_id} failed {projector.attempts} time(s), "
            f"retry at {when}: {projector.last_error[:120]}"
        )
    return line
