"""The application processes of one scenario: gunicorn (HTTP), a Celery worker and beat.

Each is started by this suite in its own session, writes a pidfile into the run's
directory, and is signalled only by the PID read back from that pidfile.
"""

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from devtools.processes import ManagedProcess

from .infra import free_port, read_pid, signal_pid

WORKER_CONCURRENCY = 2


def base_env(*, settings: str, database_url: str, redis_url: str, root: Path) -> dict[str, str]:
    metrics = root / "metrics"
    metrics.mkdir(exist_ok=True)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "false",
        "SECRET_KEY": "orderflow-faults-secret-key-not-for-production-0123456789abcdef",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "console",
        "PYTHONUNBUFFERED": "1",
        "EMAIL_URL": "dummymail://",
        "WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver listens on 127.0.0.1
        "API_RATE_LIMIT": "1000000/minute",  # the load's retries must not be throttled
        # a killed worker's claims come back after this lease: short, so a scenario is short
        "EVENTS_LEASE_SECONDS": "15",
        # a handler takes long enough to be killed in the middle of it
        "PAYMENT_LATENCY_MS": "100",
        "DB_POOL_MAX_SIZE": "8",
        # during a database outage the web answers 503 after this wait, not after 10 s
        "DB_POOL_TIMEOUT": "3",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }


class Stack:
    """web + worker + beat for one database, with their pidfiles under ``root/pids``."""

    def __init__(self, env: dict[str, str], root: Path, *, tag: str):
        self.env = env
        self.pids = root / "pids"
        self.pids.mkdir(exist_ok=True)
        self.schedule = root / f"beat-schedule-{tag}"
        self.tag = tag
        self.port = free_port()
        self.web = self._web()
        self.worker = self._worker()
        self.beat = self._beat()
        self.retired: list[ManagedProcess] = []  # replaced by a fault; their output is kept

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pidfile(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def _web(self) -> ManagedProcess:
        return ManagedProcess(
            "gunicorn",
            [
                sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                "-b", f"127.0.0.1:{self.port}", "--pid", str(self.pidfile("web")),
                "--workers", "2", "--threads", "4", "--no-control-socket", "orderflow.wsgi",
            ],
            {**self.env, "LOG_LEVEL": "INFO"},
            ready_marker="Booting worker",
        )  # fmt: skip

    def _worker(self) -> ManagedProcess:
        return ManagedProcess(
            "celery worker",
            [
                sys.executable, "-m", "celery", "-A", "orderflow", "worker", "-l", "info",
                "-c", str(WORKER_CONCURRENCY), "--without-heartbeat", "--without-mingle",
                "--without-gossip", "-n", f"faults-{self.tag}-{time.monotonic_ns()}@%h",
                "--pidfile", str(self.pidfile("worker")),
            ],
            self.env,
            ready_marker="ready.",
        )  # fmt: skip

    def _beat(self) -> ManagedProcess:
        return ManagedProcess(
            "celery beat",
            [
                sys.executable, "-m", "celery", "-A", "orderflow", "beat", "-l", "info",
                "-s", str(self.schedule), "--pidfile", str(self.pidfile("beat")),
            ],
            {**self.env, "CELERY_TASK_LOG_LEVEL": "INFO"},
            ready_marker="beat: Starting",
        )  # fmt: skip

    def start(self) -> "Stack":
        self.web.start()
        self.worker.start()
        self.beat.start()
        return self

    def stop(self) -> None:
        for process in (self.beat, self.worker, self.web):
            process.stop()
        for name in ("web", "worker", "beat"):
            self.pidfile(name).unlink(missing_ok=True)

    def save_logs(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for n, process in enumerate([*self.retired, self.web, self.worker, self.beat]):
            name = process.name.replace(" ", "-")
            (directory / f"{self.tag}-{n}-{name}.log").write_text("".join(process.output))

    # --- faults on the processes this suite started, by the PIDs in their pidfiles ---
    def worker_children(self) -> list[int]:
        """The worker's pool processes: children of the PID in the worker's pidfile."""
        pid = read_pid(self.pidfile("worker"))
        if pid is None:
            return []
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            return []
        return [int(child) for child in children if _alive(int(child))]

    def kill_worker_child(self, child: int) -> None:
        if child in self.worker_children():  # only a child of our own worker
            os.kill(child, signal.SIGKILL)

    def kill_worker(self) -> int | None:
        """SIGKILL the worker (its pidfile's PID) and its pool, then start a new one."""
        children = self.worker_children()
        pid = signal_pid(self.pidfile("worker"), signal.SIGKILL)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        if self.worker.process is not None:
            self.worker.process.wait(10)
        self.pidfile("worker").unlink(missing_ok=True)
        return pid

    def start_worker(self) -> None:
        self.retired.append(self.worker)
        self.worker = self._worker()
        self.worker.start()

    def stop_beat(self) -> int | None:
        """SIGTERM beat by the PID in its pidfile and wait for it to exit."""
        pid = signal_pid(self.pidfile("beat"), signal.SIGTERM)
        if self.beat.process is not None:
            self.beat.process.wait(15)
        return pid

    def start_beat(self) -> None:
        self.retired.append(self.beat)
        self.beat = self._beat()
        self.beat.start()


def _alive(pid: int) -> bool:
    """Not gone and not a zombie (a killed pool process its parent has yet to reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
