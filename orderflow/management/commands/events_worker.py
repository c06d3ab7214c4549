import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from orderflow.events.relay import drain


class Command(BaseCommand):
    help = (
        "Relay and deliver events in a loop without Celery: the embedded mode's worker "
        "(retries and anything a request left behind). Full mode uses Celery instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between sweeps (default 1)."
        )

    def handle(self, *args, interval, **options):
        self.running = True
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.stdout.write(f"Delivering events every {interval:g} s (Ctrl-C stops).")
        while self.running:
            close_old_connections()
            result = drain()
            if result.handled or result.relayed:
                self.stdout.write(
                    f"relayed {result.relayed}, done {result.done}, retried {result.retried}, "
                    f"dead {result.dead}"
                )
            time.sleep(interval)
        self.stdout.write("Stopped.")

    def _stop(self, signum, frame) -> None:
        self.running = False
