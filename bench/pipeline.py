"""End to end: the highest steady rate of orders the whole pipeline keeps up with, and its cost.

What runs is what a user runs: every line of ``Procfile`` as its own process group
(``devtools/procfile.py``), with the environment ``make stack`` gives plus the private
engines' URLs and ``DEBUG=false``, against a private PostgreSQL and Redis
(``bench/engines.py``). Nothing of the pipeline runs in this process:

- orders come over HTTP from **wrk** (``bench/pipeline.lua``) at a fixed rate, to the
  Procfile's ``http`` server, each with its own Idempotency-Key, over 4 shops' API keys;
- a **webhook receiver** process (``bench/receiver.py``, HTTP/1.1 keep-alive) has one
  endpoint per shop subscribed to every event type;
- a **socket** process (``bench/sockets.py``) places 200 of the measured window's orders
  itself, over HTTP, and opens each one's public tracking socket as its 201 arrives (wrk
  places the rest of the rate), so that the saga's tracking entries reach open sockets.

This process only seeds the shops, probes the backlog once a second (its statements and
commits are subtracted from the per-order figures) and reads ``/proc`` for CPU.

1. **Search**: rising rates, each for a short step; a rate is kept when the backlog —
   unrelayed outbox rows, open deliveries, projector lag, queued webhooks and e-mails —
   stays flat (``bench.measure.flat``) and wrk achieved the rate. Between steps the
   backlog drains to zero.
2. **Measure** at the highest kept rate for ``final_seconds``: placed → confirmed, event
   committed → webhook received, tracking committed → socket push, the intake's own
   latency, dead letters and parked events, CPU per order per process kind (every Procfile
   line, PostgreSQL, Redis, wrk, the receiver, the sockets, this probe) against the box's
   busy CPU, SQL statements, commits and Redis commands per order.
3. **Burst** at the intake's peak rate for ``burst_seconds``; how long the backlog takes to
   drain to zero afterwards.
"""

import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, connections

from devtools import procfile
from devtools.processes import ManagedProcess, wait_until

from . import cpu, live, measure

SHOPS = 4
#: marks the backlog probe's statements in pg_stat_statements, so their server time is known
PROBE_TAG = "/* bench-probe */"
BURST_UNPACED_RATE = 2000
SOCKETS = 200
LUA = Path(__file__).resolve().parent / "pipeline.lua"
#: wrk connections per order/s asked: each connection sends about every 2 s at most, so
#: the servers' keep-alive (gunicorn's default: 2 s) never closes one between requests
WRK_CONNECTIONS_PER_RATE = 0.5
WRK_MAX_CONNECTIONS = 64
OPEN_DELIVERIES = ("pending", "running")
OPEN_MESSAGES = ("queued", "sending")
#: the environment ``make bench`` adds to what ``make stack`` gives (see the Makefile)
STACK_SETTINGS = {
    "DEBUG": "false",
    "SECRET_KEY": "orderflow-bench-secret-key-not-for-production-0123456789abcdef",
    # loopback HTTP: no TLS in front of the servers
    "SECURE_SSL_REDIRECT": "false",
    # the receiver listens on 127.0.0.1
    "WEBHOOK_ALLOW_PRIVATE": "true",
    # 4 shops at 100+ orders/s: the per-shop limit (1000/minute) stays on the path, higher
    "API_RATE_LIMIT": "1000000/minute",
    # 200 public sockets from one loopback client
    "TRACKING_SOCKETS_PER_CLIENT": "250",
    "PYTHONUNBUFFERED": "1",
}
#: what the bench process sets for itself and the stack must not inherit
BENCH_ONLY = (
    "DJANGO_SETTINGS_MODULE",
    "TEST_CELERY_QUEUE",
    "TEST_CHANNEL_LAYER_PREFIX",
    "TEST_CACHE_KEY_PREFIX",
    "LOG_LEVEL",
    "DB_POOL_MAX_SIZE",
)


# --- the stack -----------------------------------------------------------------------------
def stack_env(env: dict[str, str], web_port: int) -> dict[str, str]:
    """``make stack``'s environment for the private engines, DEBUG off (see STACK_SETTINGS)."""
    out = {k: v for k, v in env.items() if k not in BENCH_ONLY}
    out.update(STACK_SETTINGS)
    out["DATABASE_URL"] = env["DATABASE_URL"]
    out["REDIS_URL"] = env["REDIS_URL"]
    out["WEB_PORT"] = str(web_port)
    return out


def free_port_pair() -> int:
    """A free port whose successor is free too (the Procfile's http line takes WEB_PORT + 1)."""
    for _ in range(50):
        port = live.free_port()
        with contextlib.suppress(OSError), socket.socket() as probe:
            probe.bind(("127.0.0.1", port + 1))
            return port
    raise RuntimeError("no two consecutive free ports")


def listening_ports(pids: list[int], *, proc: Path = cpu.PROC) -> set[int]:
    """The TCP ports the processes ``pids`` listen on (from /proc/net/tcp{,6} and their fds)."""
    inodes: dict[str, int] = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for row in (proc / "net" / table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A":  # LISTEN
                    inodes[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    ports = set()
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, PermissionError):
            for fd in (proc / str(pid) / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        port = inodes.get(target[8:-1])
                        if port is not None:
                            ports.add(port)
    return ports


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


@dataclass
class Stack:
    lines: dict[str, procfile.Line]
    log_dir: Path
    ports: dict[str, int] = field(default_factory=dict)

    def port_of(self, name: str) -> int | None:
        line = self.lines.get(name)
        if line is None or line.pid is None:
            return None
        ports = listening_ports(cpu.tree(line.pid))
        return min(ports) if ports else None

    def wait_http(self, timeout: float = 180) -> None:
        """Wait until each line that listens answers /healthz (web: daphne, http: the API)."""
        deadline = time.monotonic() + timeout
        for name in ("web", "http"):
            if name not in self.lines:
                continue
            while time.monotonic() < deadline:
                if not self.lines[name].running():
                    raise RuntimeError(f"Procfile line {name!r} exited:\n{self.lines[name].tail()}")
                port = self.port_of(name)
                if port and _healthy(f"http://127.0.0.1:{port}/healthz"):
                    self.ports[name] = port
                    break
                time.sleep(0.5)
            else:
                tail = self.lines[name].tail()
                raise RuntimeError(f"Procfile line {name!r} never answered:\n{tail}")

    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.ports.get('http') or self.ports['web']}"

    def check_alive(self) -> None:
        for line in self.lines.values():
            if not line.running():
                raise RuntimeError(f"Procfile line {line.name!r} exited:\n{line.tail()}")


# --- the backlog ---------------------------------------------------------------------------
class Probe:
    """The bench's own reads of the database, counted so they can be subtracted."""

    def __init__(self):
        self.statements = 0

    def _counting(self, execute, sql, params, many, context):
        self.statements += 1
        return execute(sql, params, many, context)

    def counting(self):
        """Count every statement this process runs (installed for the whole phase)."""
        return connection.execute_wrapper(self._counting)

    def query(self, sql: str, params=()) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(f"{PROBE_TAG} {sql}", params)
            return cursor.fetchall()

    def table_exists(self, table: str) -> bool:
        return bool(self.query("SELECT to_regclass(%s) IS NOT NULL", [table])[0][0])

    def backlog(self) -> dict[str, int]:
        """Work not yet done, in items: each kind the new design and the old one may have."""
        from notifications.models import Notification, WebhookDelivery
        from orderflow.models import Delivery, OutboxEvent

        outbox = OutboxEvent._meta.db_table
        out = {
            "outbox": self.query(f"SELECT count(*) FROM {outbox} WHERE published_at IS NULL")[0][0],  # noqa: S608
            "deliveries": self.query(
                f"SELECT count(*) FROM {Delivery._meta.db_table} WHERE status = ANY(%s)",  # noqa: S608
                [list(OPEN_DELIVERIES)],
            )[0][0],
            "webhooks": self.query(
                f"SELECT count(*) FROM {WebhookDelivery._meta.db_table} WHERE status = ANY(%s)",  # noqa: S608
                [list(OPEN_MESSAGES)],
            )[0][0],
            "emails": self.query(
                f"SELECT count(*) FROM {Notification._meta.db_table} WHERE status = ANY(%s)",  # noqa: S608
                [list(OPEN_MESSAGES)],
            )[0][0],
        }
        out["projectors"] = sum(self.projector_lag().values())
        out["sagas"] = self.open_sagas()
        return out

    def open_sagas(self) -> int:
        """Orders whose saga has not finished: placed, reserved or paid (not yet confirmed)."""
        from orders.events import OrderStatus
        from orders.models import Order

        waiting = [OrderStatus.PLACED, OrderStatus.RESERVED, OrderStatus.PAID]
        return self.query(
            f"SELECT count(*) FROM {Order._meta.db_table} WHERE status = ANY(%s)",  # noqa: S608
            [[str(status) for status in waiting]],
        )[0][0]

    def projector_lag(self) -> dict[str, int]:
        """Feed events past each projector's checkpoint (0 if the design has no projectors)."""
        try:
            from orderflow.events.projectors import all_projectors
            from orderflow.models import OutboxEvent, ProjectorCheckpoint
        except ImportError:
            return {}
        # the stack runs the project's settings: the bench's test projectors never run there
        names = [
            p.name
            for p in all_projectors()
            if not p.apply.__module__.startswith(("tests.", "bench."))
        ]
        if not names:
            return {}
        checkpoints = dict(
            self.query(
                f"SELECT name, position FROM {ProjectorCheckpoint._meta.db_table} "  # noqa: S608
                "WHERE name = ANY(%s)",
                [names],
            )
        )
        # positions are given one by one in commit order, so the feed positions past a
        # checkpoint number at most the newest position minus it (one index probe, where a
        # count would walk the tail); caught up is exactly 0
        outbox = OutboxEvent._meta.db_table
        newest = self.query(f"SELECT coalesce(max(position), 0) FROM {outbox}")[0][0]  # noqa: S608
        return {name: max(newest - (checkpoints.get(name) or 0), 0) for name in names}

    def total(self) -> int:
        return sum(self.backlog().values())

    def drained(self, timeout: float) -> float | None:
        """Seconds until the backlog is empty (None if not within ``timeout``)."""
        started = time.monotonic()
        if wait_until(lambda: self.total() == 0, timeout=timeout, interval=0.25):
            return round(time.monotonic() - started, 1)
        return None

    def dead_and_parked(self) -> dict[str, int]:
        from orderflow.models import Delivery

        out = {
            "dead_letters": self.query(
                f"SELECT count(*) FROM {Delivery._meta.db_table} WHERE status = 'dead'"  # noqa: S608
            )[0][0]
        }
        try:
            from orderflow.models import ParkedEvent
        except ImportError:
            out["parked_events"] = None
        else:
            out["parked_events"] = self.query(
                f"SELECT count(*) FROM {ParkedEvent._meta.db_table} "  # noqa: S608
                "WHERE replayed_at IS NULL"
            )[0][0]
        from notifications.models import Notification, WebhookDelivery

        for key, model in (("failed_webhooks", WebhookDelivery), ("failed_emails", Notification)):
            out[key] = self.query(
                f"SELECT count(*) FROM {model._meta.db_table} WHERE status = 'failed'"  # noqa: S608
            )[0][0]
        return out


# --- the load --------------------------------------------------------------------------------
@dataclass
class Shops:
    keys: list[str]
    skus: list[str]


def seed(receiver_url: str) -> Shops:
    from notifications.services.endpoints import shop_event_types, webhook_endpoint_create
    from orders import services

    keys, skus = [], []
    types = shop_event_types()
    for n in range(SHOPS):
        shop, skus = live.shop_with_catalog(f"Bench Shop {n}")
        keys.append(services.api_key_create(shop=shop, name=f"wrk-{n}")[1])
        webhook_endpoint_create(
            shop_id=shop.id, url=f"{receiver_url}/shop/{shop.id}", event_types=types
        )
    return Shops(keys=keys, skus=skus)


def kept_drain_seconds(step_seconds: float) -> float:
    """How fast the backlog must drain after a kept step: a pipeline that keeps up carries at
    most a couple of seconds of work (``measure.flat``), which it clears at full speed once
    the load stops; one that needs longer was falling behind, however flat its samples looked.
    """
    return max(5.0, step_seconds / 4)


def wrk_connections(rate: float) -> int:
    return max(2, min(WRK_MAX_CONNECTIONS, math.ceil(rate * WRK_CONNECTIONS_PER_RATE)))


def run_wrk(base: str, shops: Shops, *, rate: float, seconds: float, probe: Probe) -> dict:
    """wrk at ``rate`` for ``seconds``, sampling the backlog each second meanwhile.

    wrk's own CPU comes from ``wait4`` (its rusage), exact whatever its threads did.
    """
    env = {
        **os.environ,
        "PIPELINE_RATE": str(rate),
        "PIPELINE_KEYS": ",".join(shops.keys),
        "PIPELINE_SKUS": ",".join(shops.skus),
        "PIPELINE_RUN": f"p{rate}-{time.time_ns()}",
    }
    argv = [
        "wrk", "--threads", "1", "--connections", str(wrk_connections(rate)),
        "--duration", f"{max(1, round(seconds))}s", "--timeout", "5s",
        "--script", str(LUA), base,
    ]  # fmt: skip
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        started = time.monotonic()
        samples: list[tuple[float, int]] = []
        sagas: list[tuple[float, int]] = []
        next_sample = started
        while True:
            # wait4 with WNOHANG reaps wrk and gives its rusage when it has exited
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            now = time.monotonic()
            if now >= next_sample:
                backlog = probe.backlog()
                samples.append((round(now - started, 2), sum(backlog.values())))
                sagas.append((round(now - started, 2), backlog["sagas"]))
                next_sample += 1.0
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    summaries = [line for line in text.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not summaries:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{text[-3000:]}")
    summary = json.loads(summaries[-1])
    # a read error is a connection the server closed while idle: wrk reconnects, the order
    # it had sent was answered; a failure is a refused connection, a non-2xx or a timeout
    failures = ("connect_errors", "write_errors", "status_errors", "timeouts")
    errors = sum(summary[k] for k in failures)
    duration = summary["duration_us"] / 1e6
    return {
        "rate": rate,
        "requests": summary["requests"],
        "errors": errors,
        "read_errors": summary["read_errors"],
        "achieved_rate": round(summary["requests"] / duration, 1) if duration else 0.0,
        "seconds": round(duration, 1),
        "intake_p50_ms": round(summary["p50_us"] / 1000, 1),
        "intake_p99_ms": round(summary["p99_us"] / 1000, 1),
        "samples": samples,
        "saga_samples": sagas,
        "wrk_cpu_seconds": usage.ru_utime + usage.ru_stime,
    }


def analyze() -> None:
    """Statistics for the planner once the tables have rows, as after any deployment's load.

    Autovacuum analyzes a table once a tenth of it changed, but not within the bench's first
    minute; a table never analyzed gets default selectivities (a third of the feed past a
    projector's checkpoint), and sequential scans.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --- engine counters ---------------------------------------------------------------------------
def reset_counters(engines, probe: Probe) -> dict:
    """Zero pg_stat_statements and Redis commandstats; return pg_stat_database's commits."""
    with engines.postgres.connect(engines_database(engines)) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        commits, sessions = _commits(conn)
    import redis

    client = redis.Redis.from_url(engines.redis_url)
    client.config_resetstat()
    client.close()
    return {"commits": commits, "sessions": sessions}


def engines_database(engines) -> str:
    return engines.database_url.rsplit("/", 1)[1]


def _commits(conn) -> tuple[int, int]:
    """Commits and sessions (connections opened) of the bench database so far."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    commits, sessions = conn.execute(
        "SELECT xact_commit, sessions FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    return int(commits), int(sessions)


def read_counters(engines, start: dict, probe_statements: int) -> dict:
    """Statements, commits (this probe's subtracted) and Redis commands since ``reset``."""
    with engines.postgres.connect(engines_database(engines)) as conn:
        statements, probe_ms = conn.execute(
            "SELECT coalesce(sum(calls), 0), "
            "coalesce(sum(total_exec_time) FILTER (WHERE query LIKE %s), 0) "
            "FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()",
            [f"%{PROBE_TAG}%"],
        ).fetchone()
        top = conn.execute(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 140), calls, "
            "round(total_exec_time::numeric, 1) FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() "
            "AND query NOT LIKE %s ORDER BY calls DESC LIMIT 40",
            [f"%{PROBE_TAG}%"],
        ).fetchall()
        # where PostgreSQL's time goes: planning, execution and JIT compilation apart
        by_time = conn.execute(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 140), calls, "
            "round(total_plan_time::numeric, 1), round(total_exec_time::numeric, 1), "
            "round((jit_generation_time + jit_inlining_time + jit_optimization_time "
            "+ jit_emission_time)::numeric, 1) FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() "
            "AND query NOT LIKE %s ORDER BY total_plan_time + total_exec_time DESC LIMIT 15",
            [f"%{PROBE_TAG}%"],
        ).fetchall()
        # backends report their commits when idle, at most every second: wait that out
        time.sleep(1.5)
        commits, sessions = _commits(conn)
        commits -= start["commits"]
        # sessions are counted when they end: those still open are not in it; the one that
        # took the starting snapshot ended after it (the bench's own)
        sessions = max(sessions - start["sessions"] - 1, 0)
    import redis

    client = redis.Redis.from_url(engines.redis_url)
    stats = client.info("commandstats")
    client.close()
    redis_calls = {name.removeprefix("cmdstat_"): v["calls"] for name, v in stats.items()}
    redis_calls.pop("info", None)  # our own reading
    return {
        "sql_statements": max(int(statements) - probe_statements, 0),
        "commits": max(int(commits) - probe_statements, 0),
        "sessions_ended": sessions,
        "redis_commands": sum(redis_calls.values()),
        # the server time of the backlog probe's statements (execution, not parse or network)
        "probe_postgres_seconds": float(probe_ms) / 1000,
        "redis_top": dict(sorted(redis_calls.items(), key=lambda kv: -kv[1])[:8]),
        # the most frequent statements: (text, calls, total execution ms)
        "sql_top": [[text, int(calls), float(ms)] for text, calls, ms in top],
        # the statements PostgreSQL spent most time on: (text, calls, plan ms, execution ms,
        # JIT ms)
        "sql_top_by_time": [
            [text, int(calls), float(plan), float(run), float(jit)]
            for text, calls, plan, run, jit in by_time
        ],
    }


def measure_idle(engines, probe: "Probe", meter: cpu.Meter, *, seconds: float) -> dict:
    """What the stack spends per second with no order coming (sweeps, polls, heartbeats).

    Per-order figures at a low rate carry this fixed cost: read them next to it.
    """
    backlog = probe.total()  # 0 unless the last step did not drain: then it is not idle
    counters = reset_counters(engines, probe)
    probe_before = probe.statements
    meter.start()
    time.sleep(seconds)
    spent = meter.stop()
    engine = read_counters(engines, counters, probe.statements - probe_before)
    kinds = {k: v for k, v in spent.items() if not k.startswith("_")}
    return {
        "seconds": seconds,
        "backlog_at_start": backlog,
        "cpu_ms_per_second": {k: round(v / seconds * 1000, 1) for k, v in sorted(kinds.items())},
        "cpu_ms_per_second_total": round(sum(kinds.values()) / seconds * 1000, 1),
        "sql_statements_per_second": round(engine["sql_statements"] / seconds, 1),
        "postgres_sessions_ended_per_second": round(engine["sessions_ended"] / seconds, 1),
        # read_counters reads Redis 1.5 s after the statements (it waits for commit stats)
        "redis_commands_per_second": round(engine["redis_commands"] / (seconds + 1.5), 1),
        "redis_top_commands": engine["redis_top"],
        "sql_top_statements": engine["sql_top"],
    }


# --- latencies ---------------------------------------------------------------------------------
def placed_to_confirmed(since) -> dict:
    from django.db.models import F, OuterRef, Subquery

    from orders.events import OrderStatus
    from orders.models import Order, OrderTransition

    confirmed_at = OrderTransition.objects.filter(
        order=OuterRef("pk"), to_status=OrderStatus.CONFIRMED
    ).values("created_at")[:1]
    orders = Order.objects.filter(created_at__gt=since)
    latencies = [
        delta.total_seconds() * 1000
        for delta in orders.annotate(confirmed_at=Subquery(confirmed_at))
        .filter(confirmed_at__isnull=False)
        .annotate(latency=F("confirmed_at") - F("created_at"))
        .values_list("latency", flat=True)
    ]
    return {"orders": orders.count(), **measure.percentiles(latencies)}


def read_receiver(path: Path) -> dict[str, float]:
    """First receive time of each webhook-id."""
    first: dict[str, float] = {}
    with contextlib.suppress(FileNotFoundError):
        for row in path.read_text().splitlines():
            parts = row.split("\t")
            if len(parts) >= 2 and parts[1]:
                first.setdefault(parts[1], float(parts[0]))
    return first


def webhook_latency(received: dict[str, float], since) -> dict:
    from orderflow.models import OutboxEvent

    created = {
        str(event_id): at
        for event_id, at in OutboxEvent.objects.filter(
            created_at__gt=since, tenant_id__isnull=False
        ).values_list("event_id", "created_at")
    }
    latencies = [
        (received[event_id] - at.timestamp()) * 1000
        for event_id, at in created.items()
        if event_id in received
    ]
    return {"expected": len(created), "received": len(latencies), **measure.percentiles(latencies)}


def socket_errors(path: Path) -> dict[str, int]:
    """How many sockets failed, by error (its first 80 characters)."""
    errors: dict[str, int] = {}
    with contextlib.suppress(FileNotFoundError):
        for row in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(row)
                if "error" in record:
                    key = record["error"][:80]
                    errors[key] = errors.get(key, 0) + 1
    return errors


def socket_entries(path: Path) -> tuple[list[tuple[str, float, dict]], int, int]:
    """(order id, receive time, entry) of every entry pushed; sockets opened; errors."""
    entries, opened, errors = [], 0, 0
    with contextlib.suppress(FileNotFoundError):
        for row in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(row)
                if "error" in record:
                    errors += 1
                elif "opened" in record:
                    opened += 1
                elif "message" in record:
                    message = json.loads(record["message"])
                    # the public page's pushes carry its "steps" (tracking/public_page.py)
                    found = (
                        message.get("steps")
                        or message.get("entries")
                        or ([message["entry"]] if "entry" in message else [])
                    )
                    entries.extend((record["order"], record["at"], e) for e in found)
    return entries, opened, errors


def push_latency(path: Path, since) -> dict:
    from tracking.models import TrackingEntry

    entries, opened, errors = socket_entries(path)
    recorded = {
        (str(order_id), sequence): at
        for order_id, sequence, at in TrackingEntry.objects.filter(
            recorded_at__gt=since, public=True
        ).values_list("order_id", "sequence", "recorded_at")
    }
    latencies = []
    for order_id, at, entry in entries:
        committed = recorded.get((order_id, entry.get("sequence")))
        if committed is not None:
            latencies.append((at - committed.timestamp()) * 1000)
    return {
        "sockets": opened,
        "socket_errors": errors,
        "socket_error_kinds": socket_errors(path),
        **measure.percentiles(latencies),
    }


def orders_between(since, until) -> int:
    from orders.models import Order

    return Order.objects.filter(created_at__gt=since, created_at__lte=until).count()


# --- the phase -------------------------------------------------------------------------------
def window_rate(*, asked: int | None, best: int | None, rates: list[int]) -> int:
    """The measured window's rate: the one asked for (``--measure-at``, so that two runs
    compare at the same rate: batches, and so per-order costs, depend on it), else the
    highest kept by the search, else the lowest tried (measured anyway, reported NOT flat)."""
    if asked is not None:
        return asked
    return best if best is not None else rates[0]


def end_to_end(
    env: dict[str, str],
    engines,
    *,
    rates: list[int],
    step_seconds: float,
    final_seconds: float,
    burst_seconds: float,
    burst_rate: float | None = None,
    drain_timeout: float = 120,
    log_dir: Path,
    procfile_path: Path = procfile.REPO_ROOT / "Procfile",
    idle_seconds: float = 5,
    measure_rate: int | None = None,
) -> dict:
    """The phase; ``env`` has the private engines' URLs, Django is set up on them."""
    from django.utils import timezone

    probe = Probe()
    run_dir = log_dir  # the peers' records sit beside the stack's logs
    run_dir.mkdir(parents=True, exist_ok=True)
    receiver_port = live.free_port()
    receiver_out = run_dir / "webhooks.tsv"
    receiver = ManagedProcess(
        "receiver",
        [sys.executable, "-m", "bench.receiver", str(receiver_port), str(receiver_out)],
        {**os.environ, "PYTHONUNBUFFERED": "1"},
        ready_marker="listening",
    )
    shops = seed(f"http://127.0.0.1:{receiver_port}")
    web_port = free_port_pair()
    (procfile.REPO_ROOT / "var").mkdir(exist_ok=True)
    entries = procfile.read(procfile_path)
    report: dict = {
        "procfile": {"path": str(procfile_path), **dict(entries)},
        "shops": SHOPS,
        "stack_settings": STACK_SETTINGS,
        "steps": [],
    }
    sockets_proc = None
    lines: dict[str, procfile.Line] = {}
    counting = probe.counting()
    counting.__enter__()
    try:
        receiver.start()
        lines = procfile.start_all(entries, stack_env(env, web_port), log_dir)
        stack = Stack(lines, log_dir)
        stack.wait_http()
        base = stack.api_base()
        report["ports"] = stack.ports

        # warm-up: every process loads, every pool fills; the pipeline must confirm orders
        warm_since = timezone.now()
        run_wrk(base, shops, rate=5, seconds=4, probe=probe)
        warm_drain = probe.drained(drain_timeout)
        warm = placed_to_confirmed(warm_since)
        report["warm_up"] = {"drain_seconds": warm_drain, **warm}
        analyze()
        if not warm.get("count"):
            stack.check_alive()
            raise RuntimeError(
                f"the warm-up confirmed no order of {warm['orders']} placed "
                f"(backlog {probe.backlog()}); the stack's last warnings and errors:\n"
                + "\n".join(f"--- {n}\n{problems(line.log)}" for n, line in lines.items())
            )

        # 1. search
        best = None
        for rate in rates:
            step_since = timezone.now()
            result = run_wrk(base, shops, rate=rate, seconds=step_seconds, probe=probe)
            ok, grown = measure.flat(result["samples"], rate=rate, sagas=result["saga_samples"])
            step = {
                "rate": rate,
                "achieved_rate": result["achieved_rate"],
                "errors": result["errors"],
                "intake_p99_ms": result["intake_p99_ms"],
                "backlog_slope_per_s": round(grown, 1),
                "backlog_end": result["samples"][-1][1] if result["samples"] else None,
                "sagas_end": result["saga_samples"][-1][1] if result["saga_samples"] else None,
                "flat": ok,
            }
            step["drain_seconds"] = probe.drained(drain_timeout)
            step["placed_to_confirmed"] = placed_to_confirmed(step_since)
            step["webhooks"] = webhook_latency(read_receiver(receiver_out), step_since)
            report["steps"].append(step)
            step["kept"] = kept = (
                ok
                and step["achieved_rate"] >= 0.95 * rate
                and step["errors"] <= 0.001 * max(result["requests"], 1)
                and step["drain_seconds"] is not None
                and step["drain_seconds"] <= kept_drain_seconds(step_seconds)
            )
            if not kept:
                break
            best = rate
        report["highest_flat_rate"] = best
        rate = window_rate(asked=measure_rate, best=best, rates=rates)

        # 2. measure at that rate, sockets following the orders as they come
        sockets_out = run_dir / "sockets.jsonl"
        web = f"127.0.0.1:{stack.ports.get('web') or stack.ports['http']}"
        sockets_proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sockets", f"ws://{web}", f"http://{web}",
             str(sockets_out)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        if sockets_proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the socket process did not start")
        roots = {name: [line.pid] for name, line in lines.items()}
        roots.update(
            {
                "postgres": [engines.pids()["postgres"]],
                "redis": [engines.pids()["redis"]],
                "receiver": [receiver.pid],
                "sockets": [sockets_proc.pid],
            }
        )
        meter = cpu.Meter(roots)
        report["idle"] = measure_idle(engines, probe, meter, seconds=idle_seconds)
        since = timezone.now()
        # The sockets' process places SOCKETS of the window's orders itself and opens each
        # one's socket as its 201 arrives, so the saga's entries after it are pushes; wrk
        # places the rest of the rate.
        socket_rate = SOCKETS / final_seconds if rate > 2 * SOCKETS / final_seconds else 0.0
        if socket_rate:
            sockets_proc.stdin.write(
                f"place {base} {shops.keys[0]} {','.join(shops.skus)} {SOCKETS} {final_seconds}\n"
            )
            sockets_proc.stdin.flush()

        counters = reset_counters(engines, probe)
        probe_before = probe.statements
        bench_before = sum(os.times()[:2])
        meter.start()
        result = run_wrk(base, shops, rate=rate - socket_rate, seconds=final_seconds, probe=probe)
        window = meter.stop()
        until = timezone.now()
        ok, grown = measure.flat(result["samples"], rate=rate, sagas=result["saga_samples"])
        placed = max(orders_between(since, until), 1)
        # The per-order figures cover the whole cycle of the window's orders: the window and
        # the drain after it (the backlog was 0 when the window began), so they hold whether
        # or not the pipeline kept up during the window.
        drain = probe.drained(drain_timeout)
        wait_until(
            lambda: (
                len(read_receiver(receiver_out)) >= webhook_latency({}, since)["expected"] * 0.999
            ),
            timeout=min(30, drain_timeout),
            interval=0.5,
        )
        spent = meter.stop()
        cycle_seconds = (timezone.now() - since).total_seconds()
        spent["wrk"] = result["wrk_cpu_seconds"]
        spent["bench probe"] = sum(os.times()[:2]) - bench_before
        engine_counts = read_counters(engines, counters, probe.statements - probe_before)
        # PostgreSQL's time on the bench's own backlog queries is the probe's, not the stack's
        probe_pg = min(engine_counts["probe_postgres_seconds"], spent["postgres"])
        spent["postgres"] -= probe_pg
        spent["bench probe (its SQL in postgres)"] = probe_pg
        time.sleep(1)  # the last pushes in flight
        sockets_proc.terminate()
        sockets_proc.wait(30)
        time.sleep(1)  # the receiver writes its records out every 0.5 s; it keeps running
        busy, total = spent.pop("_box_busy"), spent.pop("_box_total")
        window_busy = window["_box_busy"]
        report["measured"] = {
            "rate": rate,
            "rate_asked": measure_rate is not None,
            "flat": ok and (measure_rate is not None or best is not None),
            "seconds": result["seconds"],
            # wrk's orders and the sockets' own, committed in the window
            "achieved_rate": round(orders_between(since, until) / result["seconds"], 1)
            if result["seconds"]
            else 0.0,
            "orders": placed,
            "requests": result["requests"],
            "errors": result["errors"],
            "read_errors": result["read_errors"],
            "intake_p50_ms": result["intake_p50_ms"],
            "intake_p99_ms": result["intake_p99_ms"],
            "backlog_slope_per_s": round(grown, 1),
            "backlog_max": max((b for _, b in result["samples"]), default=None),
            "backlog_end": result["samples"][-1][1] if result["samples"] else None,
            "sagas_max": max((n for _, n in result["saga_samples"]), default=None),
            "sagas_end": result["saga_samples"][-1][1] if result["saga_samples"] else None,
            "drain_seconds": drain,
            "placed_to_confirmed": placed_to_confirmed(since),
            "webhooks": webhook_latency(read_receiver(receiver_out), since),
            "push": push_latency(sockets_out, since),
            "cpu_ms_per_order": cpu.per_order_ms({**spent, "_box_busy": busy}, placed),
            # the window plus its drain: every order of the window fully processed (if drained)
            "cycle": {"seconds": round(cycle_seconds, 1), "complete": drain is not None},
            "box": {
                "busy_cores_in_window": round(window_busy / result["seconds"], 2)
                if result["seconds"]
                else None,
                "cores": os.cpu_count(),
                "cpu_seconds_busy_in_cycle": round(busy, 1),
                "cpu_seconds_in_cycle": round(total, 1),
            },
            "per_order": {
                "sql_statements": round(engine_counts["sql_statements"] / placed, 1),
                "commits": round(engine_counts["commits"] / placed, 1),
                "postgres_sessions_ended": round(engine_counts["sessions_ended"] / placed, 2),
                "redis_commands": round(engine_counts["redis_commands"] / placed, 1),
            },
            "redis_top_commands": engine_counts["redis_top"],
            "sql_top_statements": engine_counts["sql_top"],
            "sql_top_by_time": engine_counts["sql_top_by_time"],
            **probe.dead_and_parked(),
        }

        # 3. burst at the intake's peak, then its drain
        # without the intake phase's peak: as fast as the http line answers (wrk drops the
        # slots it cannot send), i.e. the intake's peak while the pipeline runs
        burst_rate = burst_rate or BURST_UNPACED_RATE
        burst = run_wrk(base, shops, rate=burst_rate, seconds=burst_seconds, probe=probe)
        report["burst"] = {
            "rate_asked": burst_rate,
            "orders": burst["requests"],
            "achieved_rate": burst["achieved_rate"],
            "errors": burst["errors"],
            "backlog_at_end": burst["samples"][-1][1] if burst["samples"] else None,
            "drain_seconds": probe.drained(max(drain_timeout, 4 * burst_seconds)),
        }
        report["backlog_at_end"] = probe.backlog()
        report.update(probe.dead_and_parked())
        report["rss_mb"] = {name: _tree_rss_mb(line.pid) for name, line in lines.items()}
        stack.check_alive()
    finally:
        if sockets_proc is not None and sockets_proc.poll() is None:
            sockets_proc.kill()
            sockets_proc.wait(10)
        procfile.stop_all(lines)
        receiver.stop()
        counting.__exit__(None, None, None)
        for alias in connections:
            connections[alias].close()
    return report


def problems(log: Path, last: int = 5) -> str:
    """The last warning and error lines of a process's log (JSON or plain), shortened."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for row in log.read_text(errors="replace").splitlines():
            if "celery.redirected" not in row and any(
                mark in row for mark in ('"warning"', '"error"', "Traceback", "ERROR")
            ):
                found.append(row[:400])
    return "\n".join(found[-last:])


def _tree_rss_mb(pid: int | None) -> dict:
    """Peak RSS (VmHWM) of the line's processes in MiB: the largest and their sum."""
    from .rss import _vm_hwm_kib

    peaks = [kib for kib in (_vm_hwm_kib(p) for p in cpu.tree(pid)) if kib] if pid else []
    return {
        "max": round(max(peaks) / 1024, 1) if peaks else None,
        "sum": round(sum(peaks) / 1024, 1),
    }


# --- the table ---------------------------------------------------------------------------------
def _drain(seconds) -> str:
    return "not drained in time" if seconds is None else f"{seconds} s"


def _p(figures: dict) -> str:
    if "p99_ms" not in figures:
        return "no samples"
    return f"{figures['p50_ms']:.0f} / {figures['p99_ms']:.0f} ms (n={figures['count']})"


def add_rows(table, report: dict) -> None:
    """The end-to-end figures as rows of the bench's table."""
    measured = report["measured"]
    steps = ", ".join(f"{s['rate']}{'✔' if s.get('kept') else '✘'}" for s in report["steps"])
    table.add_row(
        "end to end (Procfile stack, orders over HTTP): rates tried (✔ flat, rate achieved, "
        "no errors, drained in ≤ 5 s after)",
        steps,
    )
    for step in report["steps"]:
        hooks = step.get("webhooks", {})
        table.add_row(
            f"  at {step['rate']}/s: placed → confirmed P50 / P99; webhook P99; drained in",
            f"{_p(step.get('placed_to_confirmed', {}))}; "
            f"{hooks.get('p99_ms', '-')} ms; {_drain(step['drain_seconds'])}",
        )
    table.add_row(
        f"  measured at {measured['rate']}/s for {measured['seconds']:.0f} s",
        f"{measured['achieved_rate']} orders/s, {'flat' if measured['flat'] else 'NOT flat'}"
        + (
            " (the rate asked by --measure-at)"
            if measured.get("rate_asked")
            else ""
            if report.get("highest_flat_rate")
            else " (no rate kept: the lowest tried)"
        ),
    )
    table.add_row(
        "  intake over HTTP meanwhile: P50 / P99, errors",
        f"{measured['intake_p50_ms']} / {measured['intake_p99_ms']} ms, {measured['errors']}",
    )
    table.add_row("  placed → confirmed: P50 / P99", _p(measured["placed_to_confirmed"]))
    hooks = measured["webhooks"]
    table.add_row(
        f"  event committed → webhook received ({hooks['received']}/{hooks['expected']})",
        _p(hooks),
    )
    push = measured["push"]
    table.add_row(
        f"  tracking committed → socket push ({push['sockets']} sockets, "
        f"{push['socket_errors']} failed)",
        _p(push),
    )
    table.add_row(
        "  backlog: max during / at the end / drained to 0 in",
        f"{measured['backlog_max']} / {measured['backlog_end']} / "
        f"{_drain(measured['drain_seconds'])}",
    )
    table.add_row(
        "  orders whose saga had not finished: max during / at the end",
        f"{measured.get('sagas_max')} / {measured.get('sagas_end')}",
    )
    table.add_row(
        "  dead letters / parked events / failed webhooks / failed e-mails",
        f"{measured['dead_letters']} / {measured['parked_events']} / "
        f"{measured['failed_webhooks']} / {measured['failed_emails']}",
    )
    cycle = measured["cycle"]
    table.add_row(
        f"  CPU per order over the window + its drain ({cycle['seconds']} s"
        f"{'' if cycle['complete'] else ', NOT drained: partial'}), by process kind",
        "",
    )
    for kind, ms in measured["cpu_ms_per_order"].items():
        if kind in ("total", "box_busy"):
            continue
        table.add_row(f"    {kind}", f"{ms} ms")
    total = measured["cpu_ms_per_order"]["total"]
    table.add_row("    total of the above", f"{total} ms")
    box = measured["box"]
    table.add_row(
        "  the whole box over the same cycle (other users' work too); busy cores in the window",
        f"{measured['cpu_ms_per_order'].get('box_busy')} ms/order; "
        f"{box['busy_cores_in_window']} of {box['cores']}",
    )
    per = measured["per_order"]
    table.add_row(
        "  per order: SQL statements / commits / Redis commands / PostgreSQL sessions ended",
        f"{per['sql_statements']} / {per['commits']} / {per['redis_commands']} / "
        f"{per['postgres_sessions_ended']}",
    )
    idle = report.get("idle")
    if idle:
        table.add_row(
            f"  idle stack ({idle['seconds']} s, no orders): CPU ms/s total; SQL statements/s; "
            "Redis commands/s",
            f"{idle['cpu_ms_per_second_total']}; {idle['sql_statements_per_second']}; "
            f"{idle['redis_commands_per_second']}",
        )
    burst = report["burst"]
    table.add_row(
        f"burst: {burst['orders']} orders at {burst['achieved_rate']}/s "
        f"(asked {burst['rate_asked']}) drained in",
        _drain(burst["drain_seconds"]),
    )
    rss = ", ".join(f"{name} {v['max']}" for name, v in report["rss_mb"].items())
    table.add_row("peak RSS MiB of the largest process per Procfile line", rss)
