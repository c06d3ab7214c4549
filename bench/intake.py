"""Intake over HTTP: orders placed at rising rates until the latency or error budget breaks.

The web tier runs as production runs it — gunicorn with ``deploy/gunicorn.conf.py``,
Prometheus in multiprocess mode — on loopback. wrk (``bench/intake.lua``) posts new orders
with unique Idempotency-Keys at a paced rate, one step per rate; a step is *sustained*
when its P99 is at most 200 ms, at most 0.1 % of requests failed (non-2xx included) and
wrk achieved at least 95 % of the rate asked. The same server also serves the naive
baseline (``bench/naive.py``), driven by the same script at the same rates.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from django.db import connection

from devtools.processes import ManagedProcess, wait_until
from orderflow.models import IdempotencyKey, OutboxEvent
from orders import services
from orders.models import Order, OrderLine, Shop

from . import live
from .rss import descendants, peak_rss_mb

LUA = Path(__file__).resolve().parent / "intake.lua"
GUNICORN_CONF = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"
RATES = (25, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500, 600, 800, 1000)
P99_BUDGET_MS = 200.0
ERROR_BUDGET = 0.001
RATE_SHORTFALL = 0.95
CONNECTIONS = 48


def gunicorn(env: dict[str, str], port: int, *options: str) -> ManagedProcess:
    """The ``http`` role of deploy/entrypoint.sh on loopback; ``options`` override the conf."""
    metrics_dir = tempfile.mkdtemp(prefix="orderflow-bench-metrics-")
    env = {
        **env,
        # The per-shop limit (1000/minute by default) would refuse one shop's load after a
        # second: the bench measures the server, not the limit.
        "API_RATE_LIMIT": "",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "LOG_FORMAT": "console",
    }
    return ManagedProcess(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
         "--bind", f"127.0.0.1:{port}", *options, "orderflow.wsgi:application"],
        env,
        ready_marker="Listening at",
    )  # fmt: skip


def web_capacity(env: dict[str, str], *, step_seconds: float, server_options=()) -> dict:
    """Ramp the real intake, then the naive baseline, on one gunicorn; peak RSS after both."""
    shop, skus = live.shop_with_catalog("Bench intake shop")
    _, raw_key = services.api_key_create(shop=shop, name="wrk")
    port = live.free_port()
    server = gunicorn(live.process_env(), port, *server_options).start()
    try:
        base = f"http://127.0.0.1:{port}"
        _warm_up(base, raw_key, skus)
        intake, naive = (
            ramp(base + path, key=raw_key, skus=skus, seconds=step_seconds, server=server)
            for path in ("/api/v1/orders", "/bench/naive/orders")
        )
        rss = peak_rss_mb(server)
    finally:
        server.stop()
        forget_orders(shop)
    return {"intake": intake, "naive": naive, "rss_mb": rss, "server": _describe(server)}


def ramp(
    url: str,
    *,
    key: str,
    skus: Sequence[str],
    seconds: float,
    rates: Sequence[int] = RATES,
    server: ManagedProcess | None = None,
) -> dict:
    """Step the rate up until a step is not sustained; return the best sustained step.

    A step that misses is run once more before the ramp stops: on a shared machine one
    neighbour's burst can cost a single step its P99.
    """
    steps = []
    for rate in rates:
        step = wrk_step(url, rate=rate, key=key, skus=skus, seconds=seconds, server=server)
        steps.append(step)
        if not step["sustained"]:
            step = wrk_step(url, rate=rate, key=key, skus=skus, seconds=seconds, server=server)
            steps.append(step)
        if not step["sustained"]:
            break
    sustained = [step for step in steps if step["sustained"]]
    if sustained and not steps[-1]["sustained"]:
        # one more step halfway between the last rate held and the first one missed
        middle = (sustained[-1]["rate"] + steps[-1]["rate"]) // 2
        if middle not in (sustained[-1]["rate"], steps[-1]["rate"]):
            step = wrk_step(url, rate=middle, key=key, skus=skus, seconds=seconds, server=server)
            steps.append(step)
            if step["sustained"]:
                sustained.append(step)
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
    if not wait_until(lambda: _healthy(f"{base}/healthz"), timeout=30, interval=0.2):
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
