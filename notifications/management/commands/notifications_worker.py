import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from notifications import services


class Command(BaseCommand):
    help = (
        "Send due e-mails and webhook deliveries in a loop without Celery: the embedded "
        "mode's sender for retries. Full mode uses Celery (kicks and the beat sweep) instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between sweeps (default 1)."
        )

    def handle(self, *args, interval, **options):
        self.running = True
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.stdout.write(f"Sending e-mails and webhooks every {interval:g} s (Ctrl-C stops).")
        while self.running:
            close_old_connections()
            webhooks = services.webhook_deliveries_drain()
            emails = services.email_notifications_drain()
            if webhooks.handled or emails.handled:
                self.stdout.write(
                    f"webhooks: sent {webhooks.sent}, retried {webhooks.retried}, "
                    f"failed {webhooks.failed}; e-mails: sent {emails.sent}, "
                    f"retried {emails.retried}, failed {emails.failed}"
                )
            time.sleep(interval)
        self.stdout.write("Stopped.")

    def _stop(self, signum, frame) -> None:
        self.running = False
