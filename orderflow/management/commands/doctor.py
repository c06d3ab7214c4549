from django.core.management.base import BaseCommand

from orderflow.events.maintenance import outbox_status
from orderflow.events.projectors import parked_count, projectors_status
from orderflow.health import run_checks


class Command(BaseCommand):
    help = (
        "Check what OrderFlow needs (database, migrations, cache, broker) and the event "
        "backlog: deliveries, projectors, dead letters and parked events."
    )

    def handle(self, *args, **options):
        results = run_checks()
        for result in results:
            mark = self.style.SUCCESS("ok  ") if result.ok else self.style.ERROR("FAIL")
            self.stdout.write(f"{mark} {result.name:<11} {result.detail} ({result.latency_ms} ms)")
        if all(r.ok for r in results[:2]):
            status = outbox_status()
            age = status.oldest_undelivered_age
            self.stdout.write(
                f"events: {status.unrelayed} not relayed, {status.due} due, "
                f"{status.in_flight} in flight, {status.scheduled_retries} retries scheduled, "
                f"oldest undelivered {'—' if age is None else f'{age:.1f} s'}"
            )
            projectors = projectors_status()
            if projectors:
                self.stdout.write(
                    "projectors: "
                    + ", ".join(
                        f"{p.name} {p.lag} behind"
                        + (f" (retrying an event, {p.attempts} failed)" if p.attempts else "")
                        for p in projectors
                    )
                )
            if status.dead_letters:
                self.stdout.write(
                    self.style.WARNING(
                        f"{status.dead_letters} dead letter(s): see admin or "
                        "`manage.py replay_dead_letters --dry-run`"
                    )
                )
            parked = parked_count()
            if parked:
                self.stdout.write(
                    self.style.WARNING(
                        f"{parked} parked event(s): see admin or "
                        "`manage.py replay_dead_letters --dry-run`"
                    )
                )
        if not all(r.ok for r in results):
            raise SystemExit(1)
