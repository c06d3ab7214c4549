"""``notifications_webhookdelivery.endpoint_id``'s own index goes: ``webhookdelivery_endpoint``
leads with the endpoint. A delivery is written three times (queued, claimed, recorded), and
each write paid every index. Concurrently (``orderflow.migration_ops``)."""

import django.db.models.deletion
from django.db import migrations, models

from orderflow.migration_ops import drop_index


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [
        ("notifications", "0004_email_resends"),
    ]

    operations = [
        drop_index(
            migrations.AlterField(
                model_name="webhookdelivery",
                name="endpoint",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="deliveries",
                    to="notifications.webhookendpoint",
                ),
            ),
            table="notifications_webhookdelivery",
            indexes={"notifications_webhookdelivery_endpoint_id_92faf2d0": '"endpoint_id"'},
        ),
    ]
