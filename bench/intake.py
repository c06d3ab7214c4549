"""Intake over HTTP: orders placed at rising rates until the latency or error budget breaks.

The web tier runs as production runs it — gunicorn with ``deploy/gunicorn.conf.py`` and
granian's WSGI interface as ``Procfile``'s ``http:`` line runs it, Prometheus in
multiprocess mode — on loopback, each in turn. wrk (``bench/intake.lua``) posts new orders
with unique Idempotency-Keys at a paced rate, one step per rate; a step is *sustained* when
its P99 is at most 200 ms, at most 0.1 % of requests failed (non-2xx included) and wrk
achieved at least 95 % of the rate asked. On the faster server: SQL statements and commits
per order, replays per second (one key and body), the naive baseline (``bench/naive.py``),
and the intake with the lean path off (``ORDER_INTAKE_LEAN=false``: before/after in one run).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg
from django.db import connection

from devtools.processes import ManagedProcess, wait_until
from orderflow.models import IdempotencyKey, OutboxEvent
from orders import services
from orders.models import Order, OrderLine, Shop

from . import live
from .rss import descendants, peak_rss_mb

LUA = Path(__file__).resolve().parent / "intake.lua"
GUNICORN_CONF = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"
RATES = (25, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1200, 1500)
#: the rate of the step that counts SQL statements and commits per order (below any knee)
COUNT_RATE = 50
REPLAY_KEY = "bench-replay"
P99_BUDGET_MS = 200.0
ERROR_BUDGET = 0.001
RATE_SHORTFALL = 0.95
#: the ramp's last steps narrow the highest rate held to within this share of the rate above
RESOLUTION = 0.05
CONNECTIONS = 48


def _server_env(env: dict[str, str], lean: bool) -> dict[str, str]:
    metrics_dir = tempfile.mkdtemp(prefix="orderflow-bench-metrics-")
    return {
        **env,
        # The per-shop limit is checked on every request, as a user's server checks it (one
        # Redis call), at a rate the bench never reaches: the default 1000/minute would
        # refuse one shop's load after a second.
        "API_RATE_LIMIT": "1000000/minute",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "LOG_FORMAT": "console",
        # false: every order through the DRF view (the intake before the lean path)
        "ORDER_INTAKE_LEAN": "true" if lean else "false",
    }


def gunicorn(env: dict[str, str], port: int, *options: str, lean: bool = True) -> ManagedProcess:
    """The ``http`` role of deploy/entrypoint.sh on loopback; ``options`` override the conf."""
    return ManagedProcess(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
         "--bind", f"127.0.0.1:{port}", *options, "orderflow.wsgi:application"],
        _server_env(env, lean),
        ready_marker="Listening at",
    )  # fmt: skip


def granian(env: dict[str, str], port: int, *options: str, lean: bool = True) -> ManagedProcess:
    """The same app under granian's WSGI interface, as ``Procfile``'s ``http:`` line runs it."""
    return ManagedProcess(
        "granian",
        [str(Path(sys.executable).parent / "granian"), "--interface", "wsgi",
         "--host", "127.0.0.1", "--port", str(port),
         "--workers", os.environ.get("WEB_CONCURRENCY", "2"),
         "--blocking-threads", os.environ.get("WEB_THREADS", "4"),
         "--no-access-log", *options, "orderflow.wsgi:application"],
        _server_env(env, lean),
        ready_marker="Listening at",
    )  # fmt: skip


SERVERS = {"gunicorn": gunicorn, "granian": granian}


def web_capacity(
    env: dict[str, str],
    *,
    step_seconds: float,
    server_options=(),
    servers=("gunicorn", "granian"),
    before: bool = True,
    limit_turn: Callable[[int], float | None] | None = None,
) -> dict:
    """Ramp the lean intake on each server (``limit_turn`` before each of its steps, see
    ``ramp``); on the faster one, the DRF-only intake (before), replays, statements per
    order and the naive baseline; peak RSS after all."""
    shop, skus = live.shop_with_catalog("Bench intake shop")
    _, raw_key = services.api_key_create(shop=shop, name="wrk")
    by_server = {}

    def serve(name: str, *, lean: bool):
        return _serving(name, env, server_options, lean=lean, key=raw_key, skus=skus)

    try:
        for name in servers:
            with serve(name, lean=True) as (
                base,
                server,
            ):
                by_server[name] = ramp(
                    base + "/api/v1/orders",
                    key=raw_key,
                    skus=skus,
                    seconds=step_seconds,
                    server=server,
                    limit_turn=limit_turn,
                )
                by_server[name]["server"] = _describe(server)
        best = max(by_server, key=lambda name: by_server[name]["max_sustained_rate"])
        result = {"servers": {n: _brief(r) for n, r in by_server.items()}, "best_server": best}
        with serve(best, lean=True) as (
            base,
            server,
        ):
            url = base + "/api/v1/orders"
            # the naive baseline first: the closest in time to the intake's ramp (the last
            # one run when the best server is the last ramped), so the box's drift on this
            # shared machine weighs least on their ratio
            result["naive"] = ramp(
                base + "/bench/naive/orders", key=raw_key, skus=skus, seconds=step_seconds,
                server=server,
            )  # fmt: skip
            result["counts"] = _count_step(env, url, raw_key, skus, step_seconds)
            _place_replayed_order(url, raw_key, skus)
            result["replay"] = ramp(
                url,
                key=raw_key,
                skus=skus,
                seconds=step_seconds,
                server=server,
                extra_env={"INTAKE_REPLAY_KEY": REPLAY_KEY},
            )
            rss = peak_rss_mb(server)
        if before:
            with serve(best, lean=False) as (
                base,
                server,
            ):
                result["before"] = ramp(
                    base + "/api/v1/orders", key=raw_key, skus=skus, seconds=step_seconds,
                    server=server,
                )  # fmt: skip
    finally:
        forget_orders(shop)
    intake = {**by_server[best], **result["counts"]}
    intake["replays_per_second"] = result["replay"]["max_sustained_rate"]
    return {
        "intake": intake,
        "naive": result["naive"],
        "before": result.get("before"),
        "replay": result["replay"],
        "servers": result["servers"],
        "rss_mb": rss,
        "server": by_server[best]["server"],
    }


class _serving:
    """Start a server of kind ``name`` on a free port, warm it up, stop it after."""

    def __init__(self, name, env, options, *, lean: bool, key: str, skus: Sequence[str]):
        self.server = SERVERS[name](live.process_env(), live.free_port(), *options, lean=lean)
        self.key, self.skus = key, skus

    def __enter__(self):
        self.server.start()
        port = (
            self.server.argv[self.server.argv.index("--port") + 1]
            if ("--port" in self.server.argv)
            else self.server.argv[self.server.argv.index("--bind") + 1].rpartition(":")[2]
        )
        self.base = f"http://127.0.0.1:{port}"
        try:
            _warm_up(self.base, self.key, self.skus)
        except BaseException:
            self.server.stop()
            raise
        return self.base, self.server

    def __exit__(self, *exc):
        self.server.stop()
        return False


def _brief(ramped: dict) -> dict:
    return {key: value for key, value in ramped.items() if key != "steps"}


#: PostgreSQL's own foreign-key checks (run inside an INSERT, no round trip), which
#: pg_stat_statements lists beside the client's statements
_FK_CHECK = "SELECT 1 FROM ONLY %FOR KEY SHARE OF x"


def _count_step(env, url, key, skus, seconds) -> dict:
    """SQL statements sent (round trips: BEGIN/COMMIT included, foreign-key checks apart)
    and commits per order at ``COUNT_RATE``, from pg_stat_statements and pg_stat_database
    (the private cluster)."""
    database_url = env["DATABASE_URL"]
    time.sleep(2)  # the warm-up's last requests finish first
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")
            commits_before = _commits(conn)
            step = wrk_step(url, rate=COUNT_RATE, key=key, skus=skus, seconds=seconds)
            conn.execute("SELECT pg_stat_clear_snapshot()")
            commits = _commits(conn) - commits_before
            statements, fk_checks = conn.execute(
                "SELECT coalesce(sum(calls) FILTER (WHERE s.query NOT LIKE %(fk)s), 0), "
                "coalesce(sum(calls) FILTER (WHERE s.query LIKE %(fk)s), 0) "
                "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                "WHERE d.datname = current_database() AND s.query NOT ILIKE '%%pg_stat%%'",
                {"fk": _FK_CHECK},
            ).fetchone()
    except psycopg.Error as error:  # no pg_stat_statements: an external server
        return {"statements_per_order": None, "counts_error": str(error)[:200]}
    requests = step["requests"] or 1
    return {
        "statements_per_order": round(int(statements) / requests, 2),
        "fk_checks_per_order": round(int(fk_checks) / requests, 2),
        "commits_per_order": round(commits / requests, 2),
    }


def _commits(conn) -> int:
    (commits,) = conn.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    return int(commits)


def _place_replayed_order(url: str, key: str, skus: Sequence[str]) -> None:
    """Place the order every replay step replays (the body intake.lua sends)."""
    body = {
        "customer": {"name": "Bench Customer", "email": "bench@example.com"},
        "shipping_address": {
            "line1": "1 Bench St", "city": "Lisbon", "postal_code": "1000-001", "country": "PT",
        },
        "lines": [{"sku": skus[0], "quantity": 1}],
        "payment": {"token": "tok_ok"},
    }  # fmt: skip
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url,
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Idempotency-Key": REPLAY_KEY,
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        if response.status != 201:
            raise RuntimeError(f"the replayed order was not placed: {response.status}")


def ramp(
    url: str,
    *,
    key: str,
    skus: Sequence[str],
    seconds: float,
    rates: Sequence[int] = RATES,
    server: ManagedProcess | None = None,
    extra_env: dict[str, str] | None = None,
    limit_turn: Callable[[int], float | None] | None = None,
) -> dict:
    """Step the rate up until a step is not sustained; return the best sustained step.

    A step that misses is run once more before the ramp stops: on a shared machine one
    neighbour's burst can cost a single step its P99. Then the gap between the last rate
    held and the one missed is halved until it is within ``RESOLUTION`` of the missed rate.
    ``limit_turn(rate)``, if given, runs before each step (a pgbench turn: its rate, or None
    for no turn before a step at that rate), and the step keeps it as ``limit_tps``.
    """
    steps = []

    def step_at(rate: int) -> dict:
        limit_tps = limit_turn(rate) if limit_turn else None
        step = wrk_step(
            url, rate=rate, key=key, skus=skus, seconds=seconds, server=server, extra_env=extra_env
        )
        if limit_tps is not None:
            step["limit_tps"] = limit_tps
        steps.append(step)
        return step

    for rate in rates:
        step = step_at(rate)
        if not step["sustained"]:
            step = step_at(rate)
        if not step["sustained"]:
            break
    sustained = [step for step in steps if step["sustained"]]
    if sustained and not steps[-1]["sustained"]:
        # halve the gap between the last rate held and the first one missed (twice) until
        # it is within RESOLUTION of the missed rate: the steps above 600/s are 200 apart
        held, missed = sustained[-1]["rate"], steps[-1]["rate"]
        while missed - held > max(RESOLUTION * missed, 1):
            middle = (held + missed) // 2
            step = step_at(middle)
            if step["sustained"]:
                sustained.append(step)
                held = middle
            else:  # one miss is enough here: the rate held below it is what is reported
                missed = middle
    best = sustained[-1] if sustained else None
    return {
        "max_sustained_rate": best["achieved_rate"] if best else 0,
        "at_target_rate": best["rate"] if best else 0,
        "p50_ms": best["p50_ms"] if best else None,
        "p95_ms": best["p95_ms"] if best else None,
        "p99_ms": best["p99_ms"] if best else None,
        "error_rate": best["error_rate"] if best else None,
        # the server's CPU per order at the first step, below saturation: steadier than
        # rates on a shared machine
        "web_cpu_ms_per_order": steps[0].get("web_cpu_ms_per_order"),
        "steps": steps,
    }


def wrk_step(
    url: str,
    *,
    rate: int,
    key: str,
    skus: Sequence[str],
    seconds: float,
    server: ManagedProcess | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict:
    """POST orders at ``rate`` per second for ``seconds``; wrk's done() summary, judged.

    With ``server``, the step also reports the CPU its processes spent per request.
    """
    env = {
        **os.environ,
        "INTAKE_RATE": str(rate),
        "INTAKE_KEY": key,
        "INTAKE_SKUS": ",".join(skus),
        "INTAKE_RUN": f"wrk-{rate}-{time.time_ns()}",
        **(extra_env or {}),
    }
    argv = [
        "wrk", "--threads", "1", "--connections", str(CONNECTIONS),
        "--duration", f"{max(1, round(seconds))}s", "--timeout", "2s",
        "--script", str(LUA), url,
    ]  # fmt: skip
    cpu_before = _cpu_seconds(server) if server else None
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    cpu_after = _cpu_seconds(server) if server else None
    summaries = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not summaries:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    summary = json.loads(summaries[-1])
    errors = sum(
        summary[name]
        for name in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    requests = summary["requests"]
    achieved = requests / (summary["duration_us"] / 1e6)
    step = {
        "rate": rate,
        "achieved_rate": round(achieved, 1),
        "requests": requests,
        "errors": errors,
        "error_rate": round(errors / requests, 5) if requests else 1.0,
        "p50_ms": round(summary["p50_us"] / 1000, 1),
        "p95_ms": round(summary["p95_us"] / 1000, 1),
        "p99_ms": round(summary["p99_us"] / 1000, 1),
        "max_ms": round(summary["max_us"] / 1000, 1),
    }
    if server is not None and requests:
        step["web_cpu_ms_per_order"] = round((cpu_after - cpu_before) / requests * 1000, 2)
    step["sustained"] = (
        step["p99_ms"] <= P99_BUDGET_MS
        and step["error_rate"] <= ERROR_BUDGET
        and achieved >= RATE_SHORTFALL * rate
    )
    return step


def forget_orders(shop: Shop) -> None:
    """Delete what a phase wrote for ``shop``, so no later phase's worker relays it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {OutboxEvent._meta.db_table} WHERE tenant_id = %s",  # noqa: S608
            [str(shop.pk)],
        )
        cursor.execute(
            f"DELETE FROM {IdempotencyKey._meta.db_table} WHERE scope = %s",  # noqa: S608
            [f"shop:{shop.pk}"],
        )
        cursor.execute(
            f"DELETE FROM {OrderLine._meta.db_table} WHERE order_id IN "  # noqa: S608
            f"(SELECT id FROM {Order._meta.db_table} WHERE shop_id = %s)",
            [shop.pk],
        )
        cursor.execute(
            f"DELETE FROM {Order._meta.db_table} WHERE shop_id = %s",  # noqa: S608
            [shop.pk],
        )


def _warm_up(base: str, key: str, skus: Sequence[str]) -> None:
    """Load Django and fill the connection pools in every worker before measuring."""
    if not wait_until(lambda: _healthy(f"{base}/healthz"), timeout=60, interval=0.2):
        raise RuntimeError("the web server did not answer /healthz")
    for path in ("/api/v1/orders", "/bench/naive/orders"):
        wrk_step(f"{base}{path}", rate=40, key=key, skus=skus, seconds=2)


def _cpu_seconds(server: ManagedProcess) -> float:
    """User and system CPU of the server's processes so far (workers included)."""
    ticks = 0
    for pid in (server.pid, *descendants(server.pid)):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def _describe(server: ManagedProcess) -> str:
    return " ".join(Path(arg).name if "/" in arg else arg for arg in server.argv[1:])
