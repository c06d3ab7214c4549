from django.core.management.base import BaseCommand

from orderflow.events.maintenance import outbox_status


def _age(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.1f} s"


class Command(BaseCommand):
    help = "Print the event backlog: unrelayed events, deliveries due and in flight, dead letters."

    def handle(self, *args, **options):
        status = outbox_status()
        rows = [
            ("events not yet relayed", status.unrelayed),
            ("oldest not yet relayed", _age(status.oldest_unrelayed_age)),
            ("oldest undelivered", _age(status.oldest_undelivered_age)),
            ("deliveries in flight", status.in_flight),
            ("deliveries due now", status.due),
            ("retries scheduled", status.scheduled_retries),
            ("dead letters", status.dead_letters),
        ]
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.stdout.write(f"{label:<{width}}  {value}")
        if status.dead_letters:
            self.stdout.write(
                self.style.WARNING(
                    "Dead letters need a look: admin → Dead letters, or "
                    "`manage.py replay_dead_letters --dry-run`."
                )
            )
