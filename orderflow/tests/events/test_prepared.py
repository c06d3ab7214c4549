"""The hot statements are prepared on the server, planned once per connection.

They run on psycopg cursors with ``prepare=True`` (``workqueue.execute_prepared``), which
psycopg honours only when the connection allows prepared statements: Django turns them
off unless ``OPTIONS["prepare_threshold"]`` says otherwise (orderflow/settings.py). Off,
every run was an unnamed statement, parsed and planned again.
"""

import uuid

import pytest
from django.db import connection, transaction

from orderflow.events import publish
from orderflow.events.lane import process_batch
from orderflow.events.relay import relay_batch
from tests.probe.events import ProbeChained


def _prepared() -> dict[str, tuple[int, int]]:
    """This session's prepared statements: first words → (generic plans, custom plans)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        return {" ".join(sql.split())[:40]: (generic, custom) for sql, generic, custom in cursor}


@pytest.mark.django_db(transaction=True)
def test_the_outbox_insert_relay_and_claim_are_prepared_and_reused():
    for _ in range(8):
        with transaction.atomic():
            publish(ProbeChained(probe_id=uuid.uuid4()))
        relay_batch(limit=1)
    process_batch()

    prepared = _prepared()

    outbox = [
        plans
        for sql, plans in prepared.items()
        if sql.startswith("INSERT INTO orderflow_outboxevent")
    ]
    assert outbox, prepared
    # eight runs of one prepared statement, each planned for the tables as they are now:
    # a generic plan cached while a queue table was small would stay a sequential scan
    assert sum(custom for generic, custom in outbox) >= 8
    assert sum(generic for generic, custom in outbox) == 0
    assert any(sql.startswith("WITH due AS") for sql in prepared), prepared  # the lane's claim
    assert any(
        "UPDATE orderflow_outboxevent" in sql or sql.startswith("WITH deliveries")
        for sql in prepared
    ), prepared


def test_the_connection_allows_prepared_statements_and_plans_them_afresh():
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] is not None
    assert "plan_cache_mode=force_custom_plan" in connection.settings_dict["OPTIONS"]["options"]
