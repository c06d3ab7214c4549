"""``orderflow_delivery.event_id``'s own index goes: ``delivery_unique_event_subscriber``
leads with the event. A delivery is written three times (made, claimed, done), and each
write paid every index. Concurrently (``orderflow.migration_ops``)."""

import django.db.models.deletion
from django.db import migrations, models

from orderflow.migration_ops import drop_index


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [
        ("orderflow", "0006_staff_notes_resend_address_permissions"),
    ]

    operations = [
        drop_index(
            migrations.AlterField(
                model_name="delivery",
                name="event",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="deliveries",
                    to="orderflow.outboxevent",
                ),
            ),
            table="orderflow_delivery",
            indexes={"orderflow_delivery_event_id_c6c6ff83": '"event_id"'},
        ),
    ]
