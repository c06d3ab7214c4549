"""Migration operations that change indexes without locking a busy table.

Django's own operations for "this foreign key needs no index of its own" (``db_index=False``)
and "this unique field is a ``UniqueConstraint`` now" drop and re-create the foreign-key
constraint — which re-checks every row under an exclusive lock — and build the new unique
index under that lock too. On ``orders_order`` or a queue table that is minutes of refused
writes. These do the same change as PostgreSQL lets a live table take it:

- :func:`drop_index`: ``DROP INDEX CONCURRENTLY`` (the foreign key stays as it is);
- :func:`unique_field_to_constraint`: ``CREATE UNIQUE INDEX CONCURRENTLY``, then the
  constraint ``USING INDEX`` (instant), then the old constraint and its ``LIKE`` index go.

Each is a :class:`~django.db.migrations.SeparateDatabaseAndState`: Django's state takes the
model change as ``makemigrations`` wrote it; the database gets the statements here. A
migration using them must say ``atomic = False`` (``CONCURRENTLY`` runs outside a
transaction). On SQLite (the embedded mode) the same names are dropped and created plainly;
a column's inline ``UNIQUE`` stays there, beside the new index, as SQLite keeps it.
"""

from django.db import migrations


def _postgres(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def drop_index(
    state_operation, *, table: str, indexes: dict[str, str]
) -> migrations.SeparateDatabaseAndState:
    """Drop ``indexes`` of ``table``: each name with its columns' SQL, to re-create it on the
    way back (``'"tracking_number" varchar_pattern_ops'`` for a LIKE index, PostgreSQL's)."""

    def forwards(apps, schema_editor):
        concurrently = " CONCURRENTLY" if _postgres(schema_editor) else ""
        for name in indexes:
            schema_editor.execute(
                f"DROP INDEX{concurrently} IF EXISTS {schema_editor.quote_name(name)}"
            )

    def backwards(apps, schema_editor):
        quote = schema_editor.quote_name
        postgres = _postgres(schema_editor)
        concurrently = " CONCURRENTLY" if postgres else ""
        for name, columns in indexes.items():
            if postgres or "_pattern_ops" not in columns:
                schema_editor.execute(
                    f"CREATE INDEX{concurrently} IF NOT EXISTS {quote(name)} "
                    f"ON {quote(table)} ({columns})"
                )

    return migrations.SeparateDatabaseAndState(
        state_operations=[state_operation],
        database_operations=[migrations.RunPython(forwards, backwards)],
    )


def unique_field_to_constraint(
    state_operations, *, app_label: str, model: str, column: str, constraint: str
) -> migrations.SeparateDatabaseAndState:
    """``unique=True`` on ``column`` becomes the ``UniqueConstraint`` named ``constraint``.

    ``state_operations``: the ``AlterField`` and ``AddConstraint`` that makemigrations wrote.
    """

    def forwards(apps, schema_editor):
        model_class = apps.get_model(app_label, model)
        table = model_class._meta.db_table
        quote = schema_editor.quote_name
        if not _postgres(schema_editor):
            schema_editor.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {quote(constraint)} "
                f"ON {quote(table)} ({quote(column)})"
            )
            return
        old = schema_editor._constraint_names(model_class, [column], unique=True, primary_key=False)
        schema_editor.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {quote(constraint)} "
            f"ON {quote(table)} ({quote(column)})"
        )
        schema_editor.execute(
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(constraint)} "
            f"UNIQUE USING INDEX {quote(constraint)}"
        )
        for name in old:
            schema_editor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
        like = schema_editor._create_index_name(table, [column], suffix="_like")
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(like)}")

    def backwards(apps, schema_editor):
        model_class = apps.get_model(app_label, model)
        table = model_class._meta.db_table
        quote = schema_editor.quote_name
        if not _postgres(schema_editor):
            schema_editor.execute(f"DROP INDEX IF EXISTS {quote(constraint)}")
            return
        schema_editor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(constraint)}")
        field = model_class._meta.get_field(column.removesuffix("_id"))
        schema_editor.execute(schema_editor._create_unique_sql(model_class, [field]))
        schema_editor.execute(schema_editor._create_like_index_sql(model_class, field))

    return migrations.SeparateDatabaseAndState(
        state_operations=list(state_operations),
        database_operations=[migrations.RunPython(forwards, backwards)],
    )
