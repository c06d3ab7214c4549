from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from rich.progress import Progress

from orderflow.events.maintenance import dead_letter_replay, dead_letters
from orderflow.events.projectors import parked_event_replay, parked_events

ACTOR = "command:replay_dead_letters"


class Command(BaseCommand):
    help = (
        "Replay dead letters (as fresh deliveries) and projectors' parked events (applied "
        "again now), all or filtered, with a progress bar."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--subscriber", help="Only this subscriber or projector, e.g. orders.x_on_y, tracking."
        )
        parser.add_argument("--type", dest="event_type", help="Only this event type.")
        parser.add_argument("--shop", dest="tenant_id", help="Only this shop's events (id).")
        parser.add_argument(
            "--since", help="Only those that died (or were parked) at or after this ISO time."
        )
        parser.add_argument(
            "--kind",
            choices=["all", "deliveries", "parked"],
            default="all",
            help="Dead letters of deliveries, parked events of projectors, or both (all).",
        )
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--dry-run", action="store_true", help="List, replay nothing.")

    def handle(
        self, *args, subscriber, event_type, tenant_id, since, kind, batch_size, dry_run, **_
    ):
        since_at = None
        if since:
            since_at = parse_datetime(since)
            if since_at is None:
                raise CommandError(f"--since {since!r} is not an ISO 8601 date-time.")
        letters = dead_letters(
            subscriber=subscriber, event_type=event_type, tenant_id=tenant_id, since=since_at
        )
        parked = parked_events(
            projector=subscriber, event_type=event_type, tenant_id=tenant_id, since=since_at
        )
        ids = list(letters.values_list("pk", flat=True)) if kind != "parked" else []
        parked_ids = list(parked.values_list("pk", flat=True)) if kind != "deliveries" else []
        if dry_run:
            if ids:
                for letter in letters[:200]:
                    self.stdout.write(
                        f"{letter.pk}\t{letter.event.type}\t{letter.subscriber}\t"
                        f"{letter.attempts} attempts\t{letter.last_error[:80]}"
                    )
            if parked_ids:
                for item in parked[:200]:
                    self.stdout.write(
                        f"parked {item.pk}\t{item.event.type}\t{item.projector}\t"
                        f"{item.attempts} attempts\t{item.error[:80]}"
                    )
            if kind != "parked":
                self.stdout.write(f"{len(ids)} dead letter(s) would be replayed.")
            if parked_ids or kind == "parked":
                self.stdout.write(f"{len(parked_ids)} parked event(s) would be replayed.")
            return
        replayed = applied = 0
        with Progress(console=None, transient=False) as progress:
            task = progress.add_task("replaying", total=len(ids) + len(parked_ids))
            for start in range(0, len(ids), batch_size):
                chunk = ids[start : start + batch_size]
                replayed += dead_letter_replay(delivery_ids=chunk, actor=ACTOR)
                progress.update(task, advance=len(chunk))
            for start in range(0, len(parked_ids), batch_size):
                chunk = parked_ids[start : start + batch_size]
                applied += parked_event_replay(parked_ids=chunk, actor=ACTOR)
                progress.update(task, advance=len(chunk))
        if kind != "parked":
            self.stdout.write(self.style.SUCCESS(f"Replayed {replayed} dead letter(s)."))
        if parked_ids or kind == "parked":
            self.stdout.write(self.style.SUCCESS(f"Replayed {applied} parked event(s)."))
            if applied < len(parked_ids):
                self.stdout.write(
                    self.style.ERROR(
                        f"{len(parked_ids) - applied} parked event(s) failed again and stay "
                        "parked: see their errors in admin or with --dry-run."
                    )
                )
                raise SystemExit(1)
