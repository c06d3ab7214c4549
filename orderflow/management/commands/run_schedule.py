import logging
import signal
import time
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run Celery beat's schedule (CELERY_BEAT_SCHEDULE) in this process, each task inline: "
        "the embedded mode's beat — event sweeps and retries, notification retries, purges. "
        "Full mode runs `celery beat` and workers instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="Run every scheduled task once, then exit."
        )

    def handle(self, *args, once, **options):
        intervals = self._intervals()
        self.running = True
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        names = ", ".join(f"{name} every {seconds:g} s" for name, (_, seconds) in intervals.items())
        if options["verbosity"]:
            self.stdout.write(f"Running the schedule inline: {names} (Ctrl-C stops).")
        next_run = dict.fromkeys(intervals, time.monotonic())
        while self.running:
            now = time.monotonic()
            for name, (task_name, seconds) in intervals.items():
                if next_run[name] <= now:
                    close_old_connections()
                    try:
                        current_app.tasks[task_name].apply()
                    except Exception:  # like beat: one failing task must not stop the others
                        logger.exception("scheduled task %s failed", name)
                    next_run[name] = now + seconds
            if once:
                return
            time.sleep(max(0.05, min(next_run.values()) - time.monotonic()))
        if options["verbosity"]:
            self.stdout.write("Stopped.")

    def _intervals(self) -> dict[str, tuple[str, float]]:
        intervals = {}
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            schedule = entry["schedule"]
            if isinstance(schedule, timedelta):
                schedule = schedule.total_seconds()
            if not isinstance(schedule, int | float):
                self.stderr.write(f"skipping {name}: only fixed intervals run inline")
                continue
            intervals[name] = (entry["task"], float(schedule))
        return intervals

    def _stop(self, signum, frame) -> None:
        self.running = False
