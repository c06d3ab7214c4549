"""Tracking became a projector: its subscribers' open deliveries are done.

The relay no longer creates deliveries for tracking, and the ``tracking`` projector
starts at feed position 0, so it records every event those deliveries were waiting for
(an entry already recorded is skipped by its event id). Left open, they would end as
dead letters for a subscriber that no longer exists. Dead letters stay as they are:
the history of what failed.
"""

from django.db import migrations
from django.db.models.functions import Now

OPEN = ["pending", "running"]


def close_open_tracking_deliveries(apps, schema_editor):
    Delivery = apps.get_model("orderflow", "Delivery")
    Delivery.objects.filter(subscriber__startswith="tracking.", status__in=OPEN).update(
        status="done", done_at=Now(), lease_until=None
    )


class Migration(migrations.Migration):
    dependencies = [
        ("orderflow", "0002_deliveries_inbox_feed_position"),
        ("tracking", "0002_milestones_order_changes"),
    ]

    operations = [
        migrations.RunPython(close_open_tracking_deliveries, migrations.RunPython.noop),
    ]
