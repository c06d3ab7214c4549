"""Tasks for worker tests: the PostgreSQL session a task ran on; a task held at a gate."""

from celery import shared_task
from django.core.cache import cache
from django.db import connection


@shared_task(name="tests.probe.backend_pid")
def backend_pid(key: str) -> None:
    """Store this task's PostgreSQL backend pid (or its error) in the cache under ``key``."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            outcome = cursor.fetchone()[0]
    except Exception as error:  # the test reads what a broken connection did to one task
        outcome = f"error: {type(error).__name__}"
    cache.set(key, outcome, timeout=300)


@shared_task(name="tests.probe.wait_at_gate")
def wait_at_gate(lock: int) -> None:
    """Wait until the test releases PostgreSQL advisory lock ``lock`` (``pg_locks`` shows it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s), pg_advisory_unlock(%s)", [lock, lock])
