from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from rich.progress import Progress

from orderflow.events.maintenance import dead_letter_replay, dead_letters


class Command(BaseCommand):
    help = "Replay dead letters (all, or filtered) as fresh deliveries, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("--subscriber", help="Only this subscriber, e.g. orders.x_on_y.")
        parser.add_argument("--type", dest="event_type", help="Only this event type.")
        parser.add_argument("--shop", dest="tenant_id", help="Only this shop's events (id).")
        parser.add_argument("--since", help="Only those that died at or after this ISO time.")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--dry-run", action="store_true", help="List, replay nothing.")

    def handle(self, *args, subscriber, event_type, tenant_id, since, batch_size, dry_run, **_):
        since_at = None
        if since:
            since_at = parse_datetime(since)
            if since_at is None:
                raise CommandError(f"--since {since!r} is not an ISO 8601 date-time.")
        letters = dead_letters(
            subscriber=subscriber, event_type=event_type, tenant_id=tenant_id, since=since_at
        )
        ids = list(letters.values_list("pk", flat=True))
        if dry_run:
            for letter in letters[:200]:
                self.stdout.write(
                    f"{letter.pk}\t{letter.event.type}\t{letter.subscriber}\t"
                    f"{letter.attempts} attempts\t{letter.last_error[:80]}"
                )
            self.stdout.write(f"{len(ids)} dead letter(s) would be replayed.")
            return
        replayed = 0
        with Progress(console=None, transient=False) as progress:
            task = progress.add_task("replaying", total=len(ids))
            for start in range(0, len(ids), batch_size):
                chunk = ids[start : start + batch_size]
                replayed += dead_letter_replay(
                    delivery_ids=chunk, actor="command:replay_dead_letters"
                )
                progress.update(task, advance=len(chunk))
        self.stdout.write(self.style.SUCCESS(f"Replayed {replayed} dead letter(s)."))
