from collections import defaultdict

from django.core.management.base import BaseCommand
from rich.console import Console
from rich.table import Table

from orderflow.events import event_types
from orderflow.events.subscribers import all_subscribers


class Command(BaseCommand):
    help = "Print who reacts to what: every event type, the context publishing it, its subscribers."

    def handle(self, *args, **options):
        by_type = defaultdict(list)
        for sub in all_subscribers():
            by_type[sub.event_type].append(sub)
        table = Table(title="Domain events", show_lines=True)
        table.add_column("event type")
        table.add_column("v", justify="right")
        table.add_column("published by")
        table.add_column("subscribers")
        declared = sorted(event_types().values(), key=lambda c: (c.type, c.version))
        for cls in declared:
            subs = by_type.pop(cls.type, [])
            table.add_row(
                cls.type,
                str(cls.version),
                cls.__module__.rsplit(".", 1)[0],
                "\n".join(f"{s.name}{' (ordered)' if s.ordered else ''}" for s in subs) or "—",
            )
        for event_type, subs in sorted(by_type.items()):
            table.add_row(
                f"[red]{event_type}[/red]",
                "?",
                "[red]nobody: undeclared[/red]",
                "\n".join(s.name for s in subs),
            )
        Console(file=self.stdout, width=120).print(table)
