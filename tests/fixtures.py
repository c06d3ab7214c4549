"""Real processes for integration tests: a Celery worker and beat on the test database."""

import os
import tempfile
from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings
from django.db import connection

from devtools.processes import ProcessFailedToStart, celery_beat, celery_worker, wait_until

#: Short timings so that retries, leases and sweeps happen within a test's patience.
WORKER_ENV = {
    "EVENTS_LEASE_SECONDS": "4",
    "EVENTS_RETRY_BASE_SECONDS": "0.2",
    "EVENTS_RETRY_MAX_SECONDS": "1",
    "EVENTS_MAX_ATTEMPTS": "4",
    "EVENTS_SWEEP_INTERVAL": "0.5",
    "EVENTS_DRAIN_SECONDS": "5",
}


def wait_for(condition: Callable[[], object], *, timeout: float = 30, what: str = "") -> object:
    """Poll ``condition`` until it returns something truthy; fail the test on timeout."""
    value = wait_until(condition, timeout=timeout)
    if not value:
        pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
    return value


class EventWorkers:
    """A Celery worker (two prefork processes) and beat, on the test database and Redis."""

    def __init__(self, env: dict[str, str], schedule_dir: str):
        self.env = env
        self.worker = celery_worker(env)
        self.beat = celery_beat(env, schedule_dir=schedule_dir)

    def start(self) -> "EventWorkers":
        try:
            self.worker.start()
            self.beat.start()
        except ProcessFailedToStart as error:
            pytest.fail(str(error))
        return self

    def restart_worker(self) -> None:
        self.worker.stop()
        self.worker = celery_worker(self.env)
        self.start_worker_only()

    def start_worker_only(self) -> None:
        try:
            self.worker.start()
        except ProcessFailedToStart as error:
            pytest.fail(str(error))

    def stop(self) -> None:
        self.beat.stop()
        self.worker.stop()

    def logs(self) -> str:
        return "".join(self.worker.output[-80:] + self.beat.output[-20:])


def _flush_broker() -> None:
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture
def event_workers(transactional_db, django_db_blocker) -> Iterator[EventWorkers]:
    """Start a real worker and beat against the test database; stop them afterwards."""
    db = connection.settings_dict
    env = {
        **os.environ,
        **WORKER_ENV,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"),
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    _flush_broker()
    with tempfile.TemporaryDirectory() as schedule_dir:
        workers = EventWorkers(env, schedule_dir).start()
        try:
            yield workers
        finally:
            workers.stop()
            _flush_broker()
