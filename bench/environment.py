"""The benchmark's own PostgreSQL and Redis, private to this run, set before Django loads.

``apply()`` starts a private PostgreSQL cluster and a private Redis on free ports
(``bench/engines.py``), points the bench process at them and returns the environment every
phase gets (``env["DATABASE_URL"]``, ``env["REDIS_URL"]``); ``stop()`` removes them.
``BENCH_DATABASE_URL`` and ``BENCH_REDIS_URL`` use existing servers instead (then PostgreSQL
and Redis CPU is not attributable and their per-order figures include other people's work).
"""

import os

import psycopg
from psycopg import sql

from . import engines as engines_module

BENCH_DATABASE = engines_module.BENCH_DATABASE
BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "DEBUG": "false",
    "SECRET_KEY": "orderflow-bench-secret-key-not-for-production-0123456789abcdef",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
    "DB_POOL_MAX_SIZE": "10",
    # the webhook phase delivers to a receiver on 127.0.0.1
    "WEBHOOK_ALLOW_PRIVATE": "true",
}

_engines: engines_module.Engines | None = None


def engines() -> engines_module.Engines | None:
    """The private engines of this run (None when BENCH_DATABASE_URL names a server)."""
    return _engines


def apply() -> dict[str, str]:
    global _engines
    external = os.environ.get("BENCH_DATABASE_URL")
    if external:
        urls = {
            "DATABASE_URL": external,
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"),
        }
    else:
        if _engines is None:
            _engines = engines_module.start()
        urls = {"DATABASE_URL": _engines.database_url, "REDIS_URL": _engines.redis_url}
    os.environ.update({**BENCH_ENV, **urls})
    # The test settings (under the bench settings) name the Celery queue, the channel layer
    # and the cache key space after the process that loads them unless these are set: this
    # process, its workers and its server must use the same ones, and another run's not.
    for name in ("TEST_CELERY_QUEUE", "TEST_CHANNEL_LAYER_PREFIX", "TEST_CACHE_KEY_PREFIX"):
        os.environ.setdefault(name, f"orderflow-bench-{os.getpid()}")
    return {**os.environ}


def recreate_database() -> None:
    if _engines is not None:
        _engines.recreate_database()
        return
    server, _, name = os.environ["DATABASE_URL"].rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def stop() -> None:
    global _engines
    if _engines is not None:
        _engines.stop()
        _engines = None
