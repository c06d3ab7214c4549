"""The benchmark's own database and Redis, set before Django loads its settings."""

import os

import psycopg
from psycopg import sql

BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "orderflow_bench")
PG_SERVER_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "DATABASE_URL": f"{PG_SERVER_URL}/{BENCH_DATABASE}",
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"),
    "DEBUG": "false",
    "SECRET_KEY": "orderflow-bench-secret-key-not-for-production-0123456789abcdef",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
    "DB_POOL_MAX_SIZE": "10",
    # the webhook phase delivers to a receiver on 127.0.0.1
    "WEBHOOK_ALLOW_PRIVATE": "true",
}


def apply() -> dict[str, str]:
    os.environ.update(BENCH_ENV)
    # The test settings (under the bench settings) name the Celery queue, the channel layer
    # and the cache key space after the process that loads them unless these are set: this
    # process, its workers and its server must use the same ones, and another run's not.
    for name in ("TEST_CELERY_QUEUE", "TEST_CHANNEL_LAYER_PREFIX", "TEST_CACHE_KEY_PREFIX"):
        os.environ.setdefault(name, f"orderflow-bench-{os.getpid()}")
    return {**os.environ}


def recreate_database() -> None:
    with psycopg.connect(f"{PG_SERVER_URL}/postgres", autocommit=True) as conn:
        name = sql.Identifier(BENCH_DATABASE)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
