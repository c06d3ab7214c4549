"""Each return of an order on its tracking row (``returns``, ``open_returns``).

A row whose latest return is still open counts one open return, as the returns queue held
it before; its returns' own facts arrive with their next events.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0012_remainder_cancelled_milestone"),
    ]

    operations = [
        migrations.AddField(
            model_name="trackedorder",
            name="open_returns",
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="trackedorder",
            name="returns",
            field=models.JSONField(blank=True, db_default=[], default=list),
        ),
        migrations.RunSQL(
            "UPDATE tracking_trackedorder SET open_returns = 1 "
            "WHERE return_status IN ('requested', 'approved', 'received')",
            migrations.RunSQL.noop,
        ),
    ]
