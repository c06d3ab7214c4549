from collections import defaultdict

from django.core.management.base import BaseCommand
from rich.console import Console
from rich.table import Table

from orderflow.events import event_types
from orderflow.events.projectors import all_projectors
from orderflow.events.subscribers import all_subscribers


class Command(BaseCommand):
    help = (
        "Print who reacts to what: every event type, the context publishing it, its "
        "subscribers (saga steps) and the projectors reading it; then each projector."
    )

    def handle(self, *args, **options):
        by_type = defaultdict(list)
        for sub in all_subscribers():
            by_type[sub.event_type].append(sub)
        table = Table(title="Domain events", show_lines=True)
        table.add_column("event type")
        table.add_column("v", justify="right")
        table.add_column("published by")
        table.add_column("subscribers")
        table.add_column("projectors")
        projectors = all_projectors()
        readers = defaultdict(list)
        for projector in projectors:
            for event_type in projector.event_types:
                readers[event_type].append(projector.name)
        declared = sorted(event_types().values(), key=lambda c: (c.type, c.version))
        for cls in declared:
            subs = by_type.pop(cls.type, [])
            table.add_row(
                cls.type,
                str(cls.version),
                cls.__module__.rsplit(".", 1)[0],
                "\n".join(f"{s.name}{' (ordered)' if s.ordered else ''}" for s in subs) or "—",
                "\n".join(readers.pop(cls.type, [])) or "—",
            )
        for event_type, subs in sorted(by_type.items()):
            table.add_row(
                f"[red]{event_type}[/red]",
                "?",
                "[red]nobody: undeclared[/red]",
                "\n".join(s.name for s in subs),
                "\n".join(readers.pop(event_type, [])) or "—",
            )
        for event_type, names in sorted(readers.items()):
            table.add_row(
                f"[red]{event_type}[/red]",
                "?",
                "[red]nobody: undeclared[/red]",
                "—",
                "\n".join(names),
            )
        console = Console(file=self.stdout, width=120)
        console.print(table)
        listing = Table(title="Projectors (read the committed feed past a checkpoint)")
        listing.add_column("projector")
        listing.add_column("context")
        listing.add_column("batch", justify="right")
        listing.add_column("event types")
        for projector in projectors:
            listing.add_row(
                projector.name,
                projector.context,
                str(projector.batch_size),
                ", ".join(sorted(projector.event_types)),
            )
        console.print(listing)
