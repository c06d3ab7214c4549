"""Start, watch and stop real OrderFlow processes (Celery worker and beat, servers).

Shared by the integration tests and ``make bench``: each process runs in its own
session so that it can be stopped — or SIGKILLed with its children — as a whole.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class ProcessFailedToStart(RuntimeError):
    pass


class ManagedProcess:
    """A child process whose output is collected, so a failure can show it."""

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
            raise ProcessFailedToStart(f"{self.name} did not start:\n" + "".join(self.output[-50:]))
        return self

    def _pump(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.output.append(line)
            if self.ready_marker in line:
                self._ready.set()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def kill(self) -> None:
        """SIGKILL the whole process group, as an OOM killer or a pulled plug would."""
        if self.process is not None:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Ask the process group to stop; whatever is left after 15 s is SIGKILLed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(15)
        # the pool's children must not outlive their parent, whatever happened to it
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def celery_worker(
    env: dict[str, str],
    *,
    concurrency: int = 2,
    name: str = "w",
    queues: list[str] | tuple[str, ...] | None = None,
) -> ManagedProcess:
    """A Celery worker; ``queues`` (``-Q``) defaults to Celery's default queue only."""
    queue_args = ["-Q", ",".join(queues)] if queues else []
    return ManagedProcess(
        f"celery worker {name}",
        [
            sys.executable, "-m", "celery", "-A", "orderflow", "worker", "-l", "info",
            "-c", str(concurrency), "--without-heartbeat", "--without-mingle",
            "--without-gossip", "-n", f"{name}-{os.getpid()}-{time.monotonic_ns()}@%h",
            *queue_args,
        ],
        env,
        ready_marker="ready.",
    )  # fmt: skip


def celery_beat(env: dict[str, str], *, schedule_dir: str) -> ManagedProcess:
    # beat announces that it runs at INFO on its own logger, quiet by default
    env = {**env, "CELERY_TASK_LOG_LEVEL": "INFO"}
    return ManagedProcess(
        "celery beat",
        [
            sys.executable, "-m", "celery", "-A", "orderflow", "beat", "-l", "info",
            "-s", f"{schedule_dir}/beat-schedule", "--pidfile=",
        ],
        env,
        ready_marker="beat: Starting",
    )  # fmt: skip


def wait_until(condition: Callable[[], object], *, timeout: float, interval: float = 0.05):
    """Poll ``condition`` until truthy; return its value, or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
