"""A worker process keeps its PostgreSQL sessions across tasks, and drops a broken one.

Celery's Django fixup, left to itself, closes every connection around each task and, with
Django's connection pool in a prefork child, the pool too: every task opened new sessions.
"""

import uuid

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from tests.fixtures import wait_for


def _run_probe() -> int | str:
    """Send the probe task to the saga worker (one process) and wait for what it saw."""
    key = f"probe:backend:{uuid.uuid4()}"
    current_app.send_task("tests.probe.backend_pid", args=[key], queue=settings.EVENTS_SAGA_QUEUE)
    return wait_for(lambda: cache.get(key), timeout=60, what="the probe task to run")


def test_tasks_share_the_pools_sessions_and_broken_ones_are_replaced(event_workers):
    seen = [_run_probe() for _ in range(8)]
    assert all(isinstance(pid, int) for pid in seen), seen
    # the pool's few sessions, handed out in turn (a new pool per task: eight sessions)
    assert len(set(seen)) <= len(seen) // 2, seen

    with connection.cursor() as cursor:  # as a PostgreSQL restart would
        for pid in set(seen):
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    after = [_run_probe() for _ in range(5)]
    # the pool hands each dead session out once: that task fails and it is thrown away
    failed = [outcome for outcome in after if not isinstance(outcome, int)]
    assert set(failed) <= {"error: OperationalError"}
    assert len(failed) <= len(set(seen))
    assert isinstance(after[-1], int)
    assert after[-1] not in seen
