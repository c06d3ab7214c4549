"""A carrier's tracking number names at most one parcel on the road, whichever shop's.

Before the constraint, one shop could ship with another's carrier and tracking number and
take the carrier's reports over. If such a pair is on the road when this runs, the
migration stops and names the orders: decide which parcel the number belongs to (fix the
other order's tracking number in the database), then migrate again.
"""

import django.db.models.functions.text
from django.db import migrations, models
from django.db.models import Count

ON_THE_ROAD = ("shipped", "out_for_delivery")


def refuse_a_tracking_number_on_the_road_twice(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    on_the_road = Order.objects.filter(status__in=ON_THE_ROAD).exclude(tracking_number="")
    clashes = (
        on_the_road.annotate(carrier_name=django.db.models.functions.text.Lower("carrier"))
        .values("carrier_name", "tracking_number")
        .annotate(parcels=Count("id"))
        .filter(parcels__gt=1)
        .order_by("carrier_name", "tracking_number")
    )
    lines = []
    for clash in clashes[:20]:
        numbers = on_the_road.filter(
            carrier__iexact=clash["carrier_name"], tracking_number=clash["tracking_number"]
        ).values_list("shop_id", "number")
        orders = ", ".join(f"{number} (shop {shop_id})" for shop_id, number in numbers)
        lines.append(f"{clash['carrier_name']} {clash['tracking_number']}: {orders}")
    if lines:
        raise RuntimeError(
            "These tracking numbers are on the road on more than one order; give each "
            "parcel its own number, then migrate again:\n  " + "\n  ".join(lines)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0003_shop_carriers_and_carrier_reports"),
    ]

    operations = [
        migrations.RunPython(refuse_a_tracking_number_on_the_road_twice, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("carrier"),
                models.F("tracking_number"),
                condition=models.Q(
                    ("status__in", ("shipped", "out_for_delivery")),
                    models.Q(("tracking_number", ""), _negated=True),
                ),
                name="order_unique_parcel_on_the_road",
            ),
        ),
    ]
