"""The board searches customer names and tracking numbers: the name column and the indexes.

``customer_name`` is filled for the rows recorded before it from the feed itself (the
newest ``order.placed`` / ``order.customer_changed`` of each order), the same facts the
projector reads, so no other context's table is read.

The search indexes are ``UPPER(col) text_pattern_ops`` expression indexes (see the
model's comment); they exist on PostgreSQL only. SQLite (the embedded demo) cannot take
an operator class, and its ``LIKE`` would not use them anyway, so there the migration
records them in the model state and creates nothing.
"""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations, models

import tracking.models

NAMED_BY = ["order.placed", "order.customer_changed"]
SEARCHED = [
    ("tracked_search_number", "number"),
    ("tracked_search_name", "customer_name"),
    ("tracked_search_email", "customer_email"),
    ("tracked_search_parcel", "tracking_number"),
]


def names_from_the_feed(apps, schema_editor):
    OutboxEvent = apps.get_model("orderflow", "OutboxEvent")
    TrackedOrder = apps.get_model("tracking", "TrackedOrder")
    names = {}
    events = (
        OutboxEvent.objects.filter(aggregate="order", type__in=NAMED_BY)
        .order_by("aggregate_id", "sequence")
        .values_list("aggregate_id", "data")
    )
    for order_id, data in events.iterator(chunk_size=2000):
        name = (data or {}).get("customer_name")
        if name:
            names[order_id] = name[:200]  # the newest event of the order wins
    unnamed = TrackedOrder.objects.filter(customer_name="").only("order_id", "customer_name")
    batch = []
    for tracked in unnamed.iterator(chunk_size=2000):
        name = names.get(str(tracked.order_id))
        if name:
            tracked.customer_name = name
            batch.append(tracked)
        if len(batch) >= 1000:
            TrackedOrder.objects.bulk_update(batch, ["customer_name"])
            batch = []
    if batch:
        TrackedOrder.objects.bulk_update(batch, ["customer_name"])


def _table(apps) -> str:
    return apps.get_model("tracking", "TrackedOrder")._meta.db_table


def create_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(_table(apps))
    for name, column in SEARCHED:
        schema_editor.execute(
            f"CREATE INDEX {schema_editor.quote_name(name)} ON {table} "
            f"((UPPER({schema_editor.quote_name(column)})) text_pattern_ops)"
        )


def drop_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _column in SEARCHED:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def _index(name: str, column: str) -> models.Index:
    # tracking.models.PrefixSearchIndex: SQLite rebuilding the table later (0006) recreates
    # it from this state, without the operator class it cannot take
    return tracking.models.PrefixSearchIndex(
        django.contrib.postgres.indexes.OpClass(
            django.db.models.functions.text.Upper(column), name="text_pattern_ops"
        ),
        name=name,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("orderflow", "0005_projector_checkpoints_parked_events"),
        ("tracking", "0003_tracking_deliveries_to_projector"),
    ]

    operations = [
        migrations.AddField(
            model_name="trackedorder",
            name="customer_name",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.RunPython(names_from_the_feed, migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(model_name="trackedorder", index=_index(name, column))
                for name, column in SEARCHED
            ],
            database_operations=[
                migrations.RunPython(create_search_indexes, drop_search_indexes),
            ],
        ),
    ]
