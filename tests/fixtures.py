"""Real processes for integration tests: a Celery worker and beat on the test database."""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

REPO_ROOT = Path(__file__).resolve().parent.parent

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
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.05)


class ManagedProcess:
    """A child process whose output is collected, so a failing test can show it."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], ready_marker: str):
        self.name = name
        self.argv = argv
        self.env = env
        self.ready_marker = ready_marker
        self.output: list[str] = []
        self.process: subprocess.Popen | None = None
        self._ready = threading.Event()

    def start(self, *, timeout: float = 60) -> "ManagedProcess":
        self._ready.clear()
        self.process = subprocess.Popen(
            self.argv,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, args=(self.process,), daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            pytest.fail(f"{self.name} did not start:\n" + "".join(self.output[-50:]))
        return self

    def _pump(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.output.append(line)
            if self.ready_marker in line:
                self._ready.set()

    def children(self) -> list[int]:
        """PIDs of the process's children (the prefork pool of a Celery worker)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill(self) -> None:
        """SIGKILL the whole process group, as an OOM killer or a pulled plug would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class EventWorkers:
    """A Celery worker (two prefork processes) and beat, on the test database and Redis."""

    def __init__(self, env: dict[str, str], schedule_dir: str):
        self.env = env
        self.schedule_dir = schedule_dir
        self.worker = self._worker()
        self.beat = ManagedProcess(
            "celery beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "orderflow",
                "beat",
                "-l",
                "info",
                "-s",
                f"{schedule_dir}/beat-schedule",
                "--pidfile=",
            ],
            env,
            ready_marker="beat: Starting",
        )

    def _worker(self) -> ManagedProcess:
        return ManagedProcess(
            "celery worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "orderflow",
                "worker",
                "-l",
                "info",
                "-c",
                "2",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
            ],
            self.env,
            ready_marker="ready.",
        )

    def start(self) -> "EventWorkers":
        self.worker.start()
        self.beat.start()
        return self

    def restart_worker(self) -> None:
        self.worker.stop()
        self.worker = self._worker()
        self.worker.start()

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
