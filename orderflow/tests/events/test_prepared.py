"""The hot statements are prepared on the server: parsed once per connection.

They run through ``workqueue.execute_prepared`` (a psycopg cursor with ``prepare=True``),
which psycopg honours only when the connection allows prepared statements: Django turns
them off unless ``OPTIONS["prepare_threshold"]`` says otherwise (orderflow/settings.py).
Off, every run was an unnamed statement, parsed and planned again. Each is planned once
as well (``plan_cache_mode=force_generic_plan``; what those plans read: test_plans.py).
"""

import uuid

import pytest
from django.db import connection, connections, transaction

from orderflow.events import publish, workqueue
from orderflow.events.lane import process_batch
from orderflow.events.relay import relay_batch
from orderflow.events.workqueue import execute_prepared
from tests.probe.events import ProbeChained


def _prepared(marker: str) -> list[tuple[int, int]]:
    """(generic plans, custom plans) of this session's prepared statements containing ``marker``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE strpos(statement, %s) > 0",
            [marker],
        )
        return cursor.fetchall()


@pytest.mark.django_db
def test_a_statement_run_through_execute_prepared_is_prepared_and_planned_once():
    marker = f"test_prepared {uuid.uuid4()}"
    sql = f"SELECT %(n)s::integer + 1 /* {marker} */"

    results = [execute_prepared(sql, {"n": n}) for n in range(8)]

    assert results == [[(n + 1,)] for n in range(8)]
    # one prepared statement, run eight times on the plan made for its first run
    assert _prepared(marker) == [(8, 0)]


@pytest.mark.django_db
def test_a_statement_keeps_its_cursor_while_the_connection_lasts():
    sql = f"SELECT %(n)s::integer * 2 /* kept {uuid.uuid4()} */"

    db = connections["default"]

    assert execute_prepared(sql, {"n": 2}) == [(4,)]
    kept = workqueue.kept_cursor(db, sql)
    assert execute_prepared(sql, {"n": 3}) == [(6,)]
    assert workqueue.kept_cursor(db, sql) is kept  # the same cursor ran it again
    assert workqueue.kept_cursor(db, sql + " ") is not kept  # another statement


@pytest.mark.django_db(transaction=True)
def test_a_connection_opened_again_runs_on_its_own_cursor():
    sql = f"SELECT %(n)s::integer - 1 /* reopened {uuid.uuid4()} */"
    db = connections["default"]
    assert execute_prepared(sql, {"n": 5}) == [(4,)]

    db.close()

    assert execute_prepared(sql, {"n": 7}) == [(6,)]
    # a pool may hand back another connection: that one's cursor, not the closed one's
    assert workqueue.kept_cursor(db, sql).connection is db.connection


@pytest.mark.django_db
def test_a_connection_keeps_at_most_so_many_cursors(monkeypatch):
    monkeypatch.setattr(workqueue, "KEPT_CURSORS", 3)
    db = connections["default"]
    db.ensure_connection()
    monkeypatch.setitem(db.__dict__, "_kept_cursors", {})
    statements = [f"SELECT {n} /* bounded {uuid.uuid4()} */" for n in range(5)]
    first = workqueue.kept_cursor(db, statements[0])

    for sql in statements:
        assert execute_prepared(sql, []) == [(statements.index(sql),)]

    assert len(db.__dict__["_kept_cursors"]) == 3
    assert first.closed  # the oldest made room


@pytest.mark.django_db(transaction=True)
def test_the_relay_and_the_lanes_claim_are_prepared():
    for _ in range(3):
        with transaction.atomic():
            publish(ProbeChained(probe_id=uuid.uuid4()))
        relay_batch(limit=1)
    process_batch()

    assert _prepared("INSERT INTO orderflow_delivery")  # the relay's publish statement
    assert _prepared("FOR UPDATE OF d SKIP LOCKED")  # the lane's claim


def test_the_connection_allows_prepared_statements():
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] is not None


@pytest.mark.django_db
def test_a_statement_gives_its_rows_and_one_without_rows_gives_none():
    """Rows come by the result's status (not ``cursor.description``, rebuilt per access)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE fetched_probe (n integer)")

    assert execute_prepared("INSERT INTO fetched_probe VALUES (1), (2)", {}) == []
    assert execute_prepared("SELECT n FROM fetched_probe WHERE n > %(n)s", {"n": 5}) == []
    assert execute_prepared(
        "UPDATE fetched_probe SET n = n * 10 WHERE n = %(n)s RETURNING n", {"n": 2}
    ) == [(20,)]
    assert execute_prepared("UPDATE fetched_probe SET n = 0", {}) == []
    assert execute_prepared("SELECT n FROM fetched_probe ORDER BY n", {}) == [(0,), (0,)]
