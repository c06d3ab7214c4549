"""Carriers bound to the shops that ship with them, and the reports carriers pushed.

Each shop is bound to the carriers it has already shipped with, so that the parcels on
the road when this runs keep taking their carrier's reports; review the bindings in the
admin (a shop may have shipped with a carrier it does not use).
"""

import django.core.validators
import django.db.models.deletion
import django.db.models.functions.text
from django.db import migrations, models


def bind_shops_to_the_carriers_they_shipped_with(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    ShopCarrier = apps.get_model("orders", "ShopCarrier")
    seen: set[tuple[int, str]] = set()
    bindings = []
    used = (
        Order.objects.exclude(carrier="")
        .order_by("shop_id", "carrier")
        .values_list("shop_id", "carrier")
        .distinct()
    )
    for shop_id, carrier in used.iterator():
        key = (shop_id, carrier.lower())
        if key not in seen:
            seen.add(key)
            bindings.append(ShopCarrier(shop_id=shop_id, carrier=carrier[:50]))
    ShopCarrier.objects.bulk_create(bindings, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_saga_history_shipping_seller_details"),
    ]

    operations = [
        migrations.CreateModel(
            name="ShopCarrier",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "carrier",
                    models.CharField(
                        help_text="The carrier's name as it signs its reports (a name in "
                        "CARRIER_SECRETS).",
                        max_length=50,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[A-Za-z0-9][A-Za-z0-9._\\-]{0,49}$",
                                "Use 1 to 50 letters, digits, dots, dashes or underscores.",
                            )
                        ],
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "shop",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="carriers",
                        to="orders.shop",
                    ),
                ),
            ],
            options={
                "ordering": ["shop", "carrier"],
                "constraints": [
                    models.UniqueConstraint(
                        models.F("shop"),
                        django.db.models.functions.text.Lower("carrier"),
                        name="shopcarrier_unique_shop_carrier",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="CarrierReport",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("carrier", models.CharField(max_length=50)),
                ("event_id", models.CharField(max_length=100)),
                ("status", models.CharField(max_length=20)),
                ("received_at", models.DateTimeField(auto_now_add=True)),
                (
                    "order",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="carrier_reports",
                        to="orders.order",
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("carrier", "event_id"), name="carrierreport_unique_carrier_event"
                    )
                ],
            },
        ),
        migrations.RunPython(
            bind_shops_to_the_carriers_they_shipped_with, migrations.RunPython.noop
        ),
    ]
