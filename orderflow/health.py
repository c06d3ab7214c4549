"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (it can work).

Readiness checks what a request or a task needs: the database and its migrations, the
cache and the Celery broker (in full mode). Each check reports its latency; any failure
makes the answer 503, so a load balancer or Kubernetes stops sending traffic.

``/readyz`` is reachable by anyone who reaches the site, so a failing check answers only
"unavailable": the exception's text (host names, users, paths) goes to the log, and to
``manage.py doctor``, which only an operator runs.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

logger = logging.getLogger(__name__)

_migrations_applied = False

#: what /readyz says of a failing check; the reason is in the log line it writes
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    latency_ms: float


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def _migrations() -> str:
    global _migrations_applied  # once applied, a running process never un-applies them
    if not _migrations_applied:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            raise RuntimeError(f"{len(pending)} migration(s) not applied")
        _migrations_applied = True
    return "all applied"


def _cache() -> str:
    key = "orderflow:readyz"
    cache.set(key, "1", 10)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not return what was written")
    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


def _broker() -> str:
    if current_app.conf.task_always_eager:
        return "eager (embedded mode)"
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return conn.transport_cls if isinstance(conn.transport_cls, str) else "connected"


CHECKS: dict[str, Callable[[], str]] = {
    "database": _database,
    "migrations": _migrations,
    "cache": _cache,
    "broker": _broker,
}


def run_checks() -> list[CheckResult]:
    results = []
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            detail, ok = check(), True
        except Exception as error:  # any failure means "not ready", and is reported
            detail, ok = f"{type(error).__name__}: {error}", False
            logger.warning("Readiness check %s failed: %s", name, detail)
        results.append(
            CheckResult(
                name=name,
                ok=ok,
                detail=detail,
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        )
    return results


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    results = run_checks()
    ready = all(r.ok for r in results)
    return JsonResponse(
        {
            "status": "ready" if ready else "unavailable",
            "checks": {
                r.name: {
                    "ok": r.ok,
                    "detail": r.detail if r.ok else UNAVAILABLE,
                    "latency_ms": r.latency_ms,
                }
                for r in results
            },
        },
        status=200 if ready else 503,
    )
