"""A private PostgreSQL cluster and a private Redis, in a temporary directory, on free ports.

The machine's own PostgreSQL and Redis are shared with other people's runs: every fault
(an immediate restart, SIGSTOP, a lost dataset) is applied to these private instances
only, and every signal goes to a PID read from a pidfile this suite wrote or owns.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg

PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PG_USER = "postgres"  # initdb refuses to run as root: the cluster belongs to postgres


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres(*argv: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603  (fixed binaries, arguments of our own)
        [RUNUSER, "-u", PG_USER, "--", *argv],
        check=True,
        capture_output=True,
        text=True,
        **options,
    )


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def signal_pid(pidfile: Path, signum: int) -> int | None:
    """Signal the process named by ``pidfile``; return its PID (None if it is gone)."""
    pid = read_pid(pidfile)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
            return pid
    return None


class PrivatePostgres:
    """A PostgreSQL 15 cluster owned by postgres, listening on 127.0.0.1:<free port>."""

    def __init__(self, root: Path):
        self.dir = root / "pg"
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()

    @property
    def pidfile(self) -> Path:
        return self.data / "postmaster.pid"

    @property
    def server_url(self) -> str:
        return f"postgres://{PG_USER}@127.0.0.1:{self.port}"

    def url(self, database: str) -> str:
        return f"{self.server_url}/{database}"

    def init(self) -> "PrivatePostgres":
        self.dir.mkdir(parents=True)
        shutil.chown(self.dir, PG_USER, PG_USER)
        _as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", PG_USER,
            "--auth=trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\nmax_connections = 200\n"
                # a test cluster on a shared box: no fsync, but crash recovery still runs
                "fsync = off\nfull_page_writes = off\nshared_buffers = 128MB\n"
            )
        return self

    def start(self) -> None:
        _as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=3)

    def terminate_backends(self, database: str) -> int:
        """``pg_terminate_backend`` every connection to ``database`` but this one."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [database],
            ).fetchall()
        return sum(1 for (done,) in rows if done)


class PrivateRedis:
    """A redis-server without persistence (no RDB, no AOF): a restart loses everything."""

    def __init__(self, root: Path):
        self.dir = root / "redis"
        self.pidfile = self.dir / "redis.pid"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603  (a fixed binary)
            [
                REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--pidfile", str(self.pidfile), "--dir", str(self.dir),
            ],
            stdout=(self.dir / "server.log").open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def kill(self) -> None:
        """SIGKILL the server (by the PID in its pidfile) and reap it."""
        if self.process is None:
            return
        signal_pid(self.pidfile, signal.SIGCONT)  # a paused server must die, too
        if signal_pid(self.pidfile, signal.SIGKILL) is None and self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.pidfile.unlink(missing_ok=True)
        self.process = None

    def pause(self) -> None:
        signal_pid(self.pidfile, signal.SIGSTOP)

    def resume(self) -> None:
        signal_pid(self.pidfile, signal.SIGCONT)
