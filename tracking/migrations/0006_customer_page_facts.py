"""What the customer's tracking page says, kept on the order's tracking row.

The projector fills these from the events that carry them (order.placed: language, the
shop's contact, the items; order.rejected / order.cancelled: why; the carrier's events: a
failed attempt; payment.refunded: how much went back and when). Rows recorded before keep
the defaults: their page says what it can without them.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0005_entry_actor_order_notes"),
    ]

    operations = [
        migrations.AddField(
            model_name="trackedorder",
            name="customer_locale",
            field=models.CharField(blank=True, default="", max_length=5),
        ),
        migrations.AddField(
            model_name="trackedorder",
            name="shop_email",
            field=models.EmailField(blank=True, default="", max_length=254),
        ),
        migrations.AddField(
            model_name="trackedorder",
            name="items",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="trackedorder",
            name="outcome",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="trackedorder",
            name="delivery_issue",
            field=models.CharField(blank=True, default="", max_length=30),
        ),
        migrations.AddField(
            model_name="trackedorder",
            name="refunded_amount",
            field=models.DecimalField(decimal_places=2, default=0, max_digits=14),
        ),
        migrations.AddField(
            model_name="trackedorder",
            name="refunded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
