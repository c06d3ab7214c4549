"""A real Celery worker goes on taking tasks after an ack failed on a paused Redis.

The fault suite's redis-pause scenario found the flow worker idle for good after two acks
timed out (orderflow/broker.py). Here a worker with one slot (``-c 1``, prefetch 1) on a
private redis-server runs a task held at a gate (a PostgreSQL advisory lock the test holds);
Redis is paused, the gate opened: the task ends and its ack times out. Redis comes back,
and the next task must be taken.
"""

import psycopg
import pytest
from celery import current_app
from django.db import connection

from devtools.processes import celery_worker
from tests.fixtures import wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

FIRST, SECOND = 720_001, 720_002  # advisory lock keys of the two gates


def _waiting_at(gate: psycopg.Connection, lock: int) -> bool:
    row = gate.execute(
        "SELECT count(*) FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database "
        "WHERE locktype = 'advisory' AND NOT granted AND objid = %s "
        "AND d.datname = current_database()",
        [lock],
    ).fetchone()
    return row[0] > 0


def _send(url: str, lock: int) -> None:
    with current_app.connection_for_write(url) as conn:
        current_app.send_task("tests.probe.wait_at_gate", args=[lock], connection=conn)


def test_a_worker_takes_the_next_task_after_an_ack_failed_on_a_paused_redis(private_redis):
    db = connection.settings_dict
    gate = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    )
    worker = celery_worker(worker_env(REDIS_URL=private_redis.url), concurrency=1, name="acks")
    try:
        gate.execute("SELECT pg_advisory_lock(%s), pg_advisory_lock(%s)", [FIRST, SECOND])
        worker.start()
        _send(private_redis.url, FIRST)
        wait_for(lambda: _waiting_at(gate, FIRST), timeout=60, what="the first task at its gate")

        private_redis.pause()
        try:
            gate.execute("SELECT pg_advisory_unlock(%s)", [FIRST])
            wait_for(
                lambda: any("Couldn't ack" in line for line in worker.output),
                timeout=90,
                what="the first task's ack to fail",
            )
        finally:
            private_redis.resume()

        _send(private_redis.url, SECOND)
        # kombu's own QoS keeps the only slot taken: the worker would never take this task
        wait_for(
            lambda: _waiting_at(gate, SECOND),
            timeout=60,
            what="the second task at its gate:\n" + "".join(worker.output[-30:]),
        )
    finally:
        gate.close()  # opens the second gate, if a task waits there
        worker.stop()
