"""The plans PostgreSQL keeps for the hot statements.

A prepared statement is planned once per connection (``plan_cache_mode=force_generic_plan``,
orderflow/settings.py): without its values, from the statistics of the moment, and kept.
These tests read that plan (``EXPLAIN EXECUTE`` of the statement prepared on the test's
connection, whose settings are the app's) on the test database's nearly empty tables — the
worst moment to plan, where a sequential scan looks cheapest — and check it still reads
through an index: a claim through its queue's partial index (which only a status written
as a literal can prove usable), nothing by a sequential scan.
"""

import json
import re
import uuid

import pytest
from django.db import connection

from notifications.services import deliveries
from notifications.services.queues import EMAILS, WEBHOOKS
from orderflow.events import lane
from orderflow.events.workqueue import _claim_sql, execute_planned
from orders import intake_sql

pytestmark = pytest.mark.django_db

_PLACEHOLDER = re.compile(r"%\((\w+)\)[sb]")


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _kept_plan(sql: str) -> list[dict]:
    """Every node of the generic plan the connection keeps for ``sql`` (run with NULLs:
    a generic plan does not depend on the values)."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    text = _PLACEHOLDER.sub(number, sql)
    name = f"plan_{uuid.uuid4().hex}"
    with connection.cursor() as cursor:
        cursor.execute(f"PREPARE {name} AS {text}")
        try:
            nulls = ", ".join(["NULL"] * len(names))
            cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE {name}({nulls})")
            (document,) = cursor.fetchone()
        finally:
            cursor.execute(f"DEALLOCATE {name}")
    if isinstance(document, str):
        document = json.loads(document)
    return list(_nodes(document[0]["Plan"]))


def _scans(nodes: list[dict]) -> list[tuple[str, str]]:
    """(node type, index or table) of each scan of a table or an index."""
    return [
        (node["Node Type"], node.get("Index Name") or node["Relation Name"])
        for node in nodes
        if ("Relation Name" in node or "Index Name" in node) and node["Node Type"] != "ModifyTable"
    ]


def test_the_connection_plans_a_prepared_statement_once_with_sequential_scans_off():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan'),"
            " current_setting('jit')"
        )
        assert cursor.fetchone() == ("force_generic_plan", "off", "off")


def test_a_query_with_no_index_to_use_is_not_compiled():
    # a sequential scan where no index serves is costed at 10^10 with them off: with JIT
    # on, PostgreSQL compiled such a query for 200 ms (a carrier account read, in the bench)
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM orders_carrieraccount"
            " WHERE credentials_encrypted <> ''"
        )
        (document,) = cursor.fetchone()
    if isinstance(document, str):
        document = json.loads(document)

    assert document[0]["Plan"]["Total Cost"] > 1e9  # what would have crossed jit_above_cost
    assert "JIT" not in document[0]


@pytest.mark.parametrize(
    ("claim", "index"),
    [
        pytest.param(lambda: lane._CLAIM_SQL, "delivery_claimable", id="saga lane"),
        pytest.param(lambda: deliveries._CLAIM_SQL, "webhookdelivery_due", id="webhooks"),
        pytest.param(lambda: _claim_sql(EMAILS), "notification_due", id="e-mails"),
        pytest.param(lambda: _claim_sql(WEBHOOKS), "webhookdelivery_due", id="engine on webhooks"),
    ],
)
def test_a_claim_reads_its_queue_through_the_due_rows_index(claim, index):
    nodes = _kept_plan(claim())

    # the queue's partial index holds only the rows waiting or leased: a claim reads those,
    # however many finished rows the table keeps (with its statuses as parameters, the
    # e-mail claim walked a whole other index: 159 ms a claim at 100 orders/s)
    assert index in {node.get("Index Name") for node in nodes}, _scans(nodes)


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(lambda: intake_sql._READ_SQL, id="intake read"),
        pytest.param(lambda: intake_sql._WRITE_SQL, id="intake write"),
        pytest.param(lambda: lane._step_end_sql(()), id="step end"),
        pytest.param(lambda: lane._step_end_sql((False, False)), id="step end with events"),
        pytest.param(lambda: lane._CLAIM_SQL, id="lane claim"),
        pytest.param(lambda: _claim_sql(EMAILS), id="e-mail claim"),
    ],
)
def test_a_hot_statement_keeps_no_sequential_scan(statement):
    scans = _scans(_kept_plan(statement()))

    assert scans
    assert [scan for scan in scans if scan[0] == "Seq Scan"] == []


def test_a_statement_run_with_its_values_in_its_text_is_not_kept():
    marker = f"test_plans {uuid.uuid4()}"

    rows = execute_planned(f"SELECT %(n)s::integer * 2 /* {marker} */", {"n": 21})

    assert rows == [(42,)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE strpos(statement, %s) > 0",
            [marker],
        )
        assert cursor.fetchone() == (0,)
