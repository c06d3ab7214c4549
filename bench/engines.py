"""The bench's own PostgreSQL and Redis: private instances on free ports, as ``make faults`` runs.

Every postgres and redis-server process of these instances belongs to the bench, so their CPU
is the pipeline's database and Redis CPU (``bench/cpu.py`` reads it from ``/proc``). The
cluster is tuned like the machine's own PostgreSQL (its tuning settings are copied when it
answers, PostgreSQL's defaults otherwise) plus ``pg_stat_statements``, which gives the SQL
statements per order; Redis's ``INFO commandstats`` gives the commands per order.

The classes come from ``faults/infra.py`` (H6's); only the configuration differs: the fault
suite runs without fsync, the bench runs with whatever the machine's cluster runs with.
"""

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from faults.infra import PrivatePostgres, PrivateRedis, read_pid

#: the settings copied from the machine's PostgreSQL when it sets them (the rest stay default)
TUNING = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "wal_buffers",
    "max_wal_size",
    "min_wal_size",
    "checkpoint_timeout",
    "checkpoint_completion_target",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    # not "autovacuum": the machine turns it off for its test databases, no deployment does,
    # and without it the planner never has statistics on the outbox and the deliveries (a
    # projector's read of the feed became a sequential scan: 4.4 ms, 0.3 ms by the index)
    "random_page_cost",
    "effective_io_concurrency",
    "huge_pages",
    "jit",
)
#: what the faults cluster changes for speed, put back to PostgreSQL's defaults first
DEFAULTS = {"fsync": "on", "full_page_writes": "on", "shared_buffers": "128MB"}
MACHINE_PG_URL = os.environ.get(
    "BENCH_MACHINE_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
BENCH_DATABASE = "orderflow_bench"


def machine_settings(url: str = MACHINE_PG_URL) -> dict[str, str]:
    """The tuning settings the machine's PostgreSQL sets (not defaults), with their units."""
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            rows = conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings "
                "WHERE name = ANY(%s) AND source NOT IN ('default', 'override')",
                [list(TUNING)],
            ).fetchall()
    except psycopg.Error:
        return {}
    return dict(rows)


def conf_lines(machine: dict[str, str]) -> str:
    """postgresql.conf lines appended after the fault suite's (the last setting wins)."""
    settings = {**DEFAULTS, **machine}
    settings["shared_preload_libraries"] = "pg_stat_statements"
    settings["pg_stat_statements.track"] = "all"
    settings["pg_stat_statements.track_utility"] = "on"
    settings["pg_stat_statements.track_planning"] = "on"
    settings["max_connections"] = "300"
    return "".join(f"{name} = '{value}'\n" for name, value in sorted(settings.items()))


class BenchPostgres(PrivatePostgres):
    """The fault suite's private cluster, configured like the machine's, with statement stats."""

    def __init__(self, root: Path, machine: dict[str, str]):
        super().__init__(root)
        self.machine = machine

    def init(self) -> "BenchPostgres":
        super().init()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("# make bench: like the machine's cluster, plus pg_stat_statements\n")
            conf.write(conf_lines(self.machine))
        return self

    @property
    def postmaster_pid(self) -> int | None:
        return read_pid(self.pidfile)

    def settings(self) -> dict[str, str]:
        """What the running cluster uses, for the report."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                [[*TUNING, "max_connections", "shared_preload_libraries"]],
            ).fetchall()
        return dict(rows)


@dataclass
class Engines:
    """A private PostgreSQL cluster and Redis, started in a temporary directory."""

    root: Path
    postgres: BenchPostgres
    redis: PrivateRedis
    machine: dict[str, str] = field(default_factory=dict)
    _tmp: tempfile.TemporaryDirectory | None = None

    @property
    def database_url(self) -> str:
        return self.postgres.url(BENCH_DATABASE)

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def pids(self) -> dict[str, int | None]:
        """The roots of the process trees whose CPU is the engines' CPU."""
        return {
            "postgres": self.postgres.postmaster_pid,
            "redis": self.redis.process.pid if self.redis.process else None,
        }

    def recreate_database(self) -> None:
        with self.postgres.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
        with self.postgres.connect(BENCH_DATABASE) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.redis.kill()
        self.postgres.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


def start() -> Engines:
    """Initialise and start both engines; the caller must ``stop()`` them."""
    tmp = tempfile.TemporaryDirectory(prefix="orderflow-bench-engines-")
    root = Path(tmp.name)
    os.chmod(root, 0o755)  # noqa: S103  (the cluster's directory belongs to postgres, under ours)
    machine = machine_settings()
    postgres = BenchPostgres(root, machine).init()
    redis = PrivateRedis(root)
    engines = Engines(root=root, postgres=postgres, redis=redis, machine=machine, _tmp=tmp)
    try:
        postgres.start()
        redis.start()
        engines.recreate_database()
    except BaseException:
        engines.stop()
        raise
    return engines
