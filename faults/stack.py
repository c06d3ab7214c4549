"""The application processes of one scenario: the API server, the Celery workers and beat.

The API server is the ``Procfile``'s ``http:`` line (granian) and the workers are its
worker lines, as declared there (their queues, concurrency and flags: the saga lane's
worker and the general ``flow`` worker), so a fault lands on the process layout a user
runs. Each process is started by this suite in its own session, writes a pidfile into
the run's directory, and is signalled only by the PID read back from that pidfile.
"""

import contextlib
import os
import re
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devtools import procfile
from devtools.processes import REPO_ROOT, ManagedProcess

from .infra import free_port, read_pid, signal_pid

#: the Procfile's ``${WORKER_CONCURRENCY:-4}``: two pool processes on the shared box
WORKER_CONCURRENCY = 2
#: options of a worker line this suite sets itself
_OWN_OPTIONS = {"-l", "--loglevel", "-n", "--hostname", "--pidfile", "--logfile", "-f"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


@dataclass(frozen=True)
class WorkerLine:
    """One ``celery … worker`` line of the Procfile: its name and its worker options."""

    name: str
    options: tuple[str, ...]

    @property
    def queues(self) -> set[str]:
        """The queues it consumes (Celery's default ``celery`` when it names none)."""
        for n, option in enumerate(self.options):
            if option in ("-Q", "--queues") and n + 1 < len(self.options):
                return set(self.options[n + 1].split(","))
            if option.startswith("--queues="):
                return set(option.split("=", 1)[1].split(","))
            if option.startswith("-Q") and len(option) > 2:
                return set(option[2:].split(","))
        return {"celery"}


def worker_lines(env: dict[str, str], procfile: Path = REPO_ROOT / "Procfile") -> list[WorkerLine]:
    """The Procfile's Celery worker lines, variables expanded from ``env``."""
    lines = []
    for raw in procfile.read_text().splitlines():
        name, _, command = raw.strip().partition(":")
        if raw.lstrip().startswith("#") or not command:
            continue
        argv = shlex.split(_expand(command.strip(), env))
        if "worker" not in argv or not any(Path(a).name == "celery" for a in argv):
            continue
        options = argv[argv.index("worker") + 1 :]
        kept: list[str] = []
        skip = False
        for option in options:
            if skip:
                skip = False
                continue
            if option in _OWN_OPTIONS:
                skip = True
                continue
            if option.split("=", 1)[0] in _OWN_OPTIONS:
                continue
            kept.append(option)
        lines.append(WorkerLine(name=name.strip(), options=tuple(kept)))
    return lines


def _expand(command: str, env: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(3)
        return env.get(name) or (match.group(2) or "")

    return _VARIABLE.sub(value, command)


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
        # a charge takes long enough to be killed in the middle of it; no longer: the saga
        # lane is one process, so the gateway's latency adds up over every order's charge
        "PAYMENT_LATENCY_MS": "20",
        "DB_POOL_MAX_SIZE": "8",
        # during a database outage the web answers 503 after this wait, not after 10 s
        "DB_POOL_TIMEOUT": "3",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
    }


class Stack:
    """web + the Procfile's workers + beat for one database, pidfiles under ``root/pids``."""

    def __init__(self, env: dict[str, str], root: Path, *, tag: str):
        self.env = env
        self.pids = root / "pids"
        self.pids.mkdir(exist_ok=True)
        self.schedule = root / f"beat-schedule-{tag}"
        self.tag = tag
        self.port = free_port()
        self.web = self._web()
        self.lines = {line.name: line for line in worker_lines(env)}
        self.workers = {name: self._worker(name) for name in self.lines}
        self.beat = self._beat()
        self.retired: list[ManagedProcess] = []  # replaced by a fault; their output is kept

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pidfile(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    @property
    def process_names(self) -> list[str]:
        return ["web", *self.workers, "beat"]

    def worker_for(self, queue: str) -> str:
        """The worker line consuming ``queue`` (the first, if several do)."""
        for name, line in self.lines.items():
            if queue in line.queues:
                return name
        raise LookupError(f"no Procfile worker consumes the queue {queue!r}")

    def _web(self) -> ManagedProcess:
        """The Procfile's ``http:`` line (granian, the API's server) on this stack's port.

        The line listens on ``WEB_PORT + 1`` (``WEB_PORT`` is the pages' server, which the
        load does not use); granian writes its pidfile where ``GRANIAN_PID_FILE`` says.
        """
        return ManagedProcess(
            "http",
            ["bash", "-c", dict(procfile.read())["http"]],
            {
                **self.env,
                "LOG_LEVEL": "INFO",
                "WEB_PORT": str(self.port - 1),
                "GRANIAN_PID_FILE": str(self.pidfile("web")),
            },
            ready_marker="Started worker",
        )

    def _worker(self, name: str) -> ManagedProcess:
        return ManagedProcess(
            f"celery {name}",
            [
                sys.executable, "-m", "celery", "-A", "orderflow", "worker", "-l", "info",
                *self.lines[name].options,
                "-n", f"faults-{self.tag}-{name}-{time.monotonic_ns()}@%h",
                "--pidfile", str(self.pidfile(name)),
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
        for worker in self.workers.values():
            worker.start()
        self.beat.start()
        return self

    def stop(self) -> None:
        for process in (self.beat, *self.workers.values(), self.web):
            process.stop()
        for name in self.process_names:
            self.pidfile(name).unlink(missing_ok=True)

    def save_logs(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        processes = [*self.retired, self.web, *self.workers.values(), self.beat]
        for n, process in enumerate(processes):
            name = process.name.replace(" ", "-")
            (directory / f"{self.tag}-{n}-{name}.log").write_text("".join(process.output))

    # --- faults on the processes this suite started, by the PIDs in their pidfiles ---
    def worker_children(self, name: str) -> list[int]:
        """Worker ``name``'s pool processes: children of the PID in its pidfile."""
        pid = read_pid(self.pidfile(name))
        if pid is None:
            return []
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            return []
        return [int(child) for child in children if _alive(int(child))]

    def kill_worker_child(self, name: str, child: int) -> None:
        if child in self.worker_children(name):  # only a child of our own worker
            os.kill(child, signal.SIGKILL)

    def kill_worker(self, name: str) -> int | None:
        """SIGKILL worker ``name`` (its pidfile's PID) and its pool."""
        children = self.worker_children(name)
        pid = signal_pid(self.pidfile(name), signal.SIGKILL)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        process = self.workers[name].process
        if process is not None:
            process.wait(10)
        self.pidfile(name).unlink(missing_ok=True)
        return pid

    def start_worker(self, name: str) -> None:
        self.retired.append(self.workers[name])
        self.workers[name] = self._worker(name)
        self.workers[name].start()

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
