"""Indexes no query needs, paid on every projector write.

- ``tracking_trackingentry.order_id``: the foreign key's own index, where
  ``tracking_entry_order`` (order, id) already leads with it;
- ``tracking_trackedorder.tracking_token``'s LIKE index: the token is unique by a
  constraint now.

Concurrently, so the live pages keep reading (``orderflow.migration_ops``).
"""

import django.db.models.deletion
from django.db import migrations, models

from orderflow.migration_ops import drop_index, unique_field_to_constraint


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY

    dependencies = [
        ("tracking", "0016_delivery_issue_resolved_milestone"),
    ]

    operations = [
        unique_field_to_constraint(
            [
                migrations.AlterField(
                    model_name="trackedorder",
                    name="tracking_token",
                    field=models.CharField(max_length=64),
                ),
                migrations.AddConstraint(
                    model_name="trackedorder",
                    constraint=models.UniqueConstraint(
                        fields=("tracking_token",), name="tracked_unique_token"
                    ),
                ),
            ],
            app_label="tracking",
            model="trackedorder",
            column="tracking_token",
            constraint="tracked_unique_token",
        ),
        drop_index(
            migrations.AlterField(
                model_name="trackingentry",
                name="order",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="entries",
                    to="tracking.trackedorder",
                ),
            ),
            table="tracking_trackingentry",
            indexes={"tracking_trackingentry_order_id_78c3448f": '"order_id"'},
        ),
    ]
