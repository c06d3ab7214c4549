"""Shipments: an order's parcels, each with its lines (#16).

Every order that has a tracking number today gets one shipment holding all its lines, in
the status its parcel has (in transit, out for delivery or delivered), shipped when and
by whom the order's history says; the carrier reports kept on it point at that shipment.
"One parcel on the road per carrier and tracking number" moves from orders to shipments.
"""

import uuid
from itertools import islice

import django.db.models.deletion
import django.db.models.functions.text
from django.db import migrations, models
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce

#: the status of the one parcel of an order, by the order's status
PARCEL_STATUS = {"out_for_delivery": "out_for_delivery", "delivered": "delivered"}
BATCH = 1000


def one_shipment_per_shipped_order(apps, schema_editor):
    db = schema_editor.connection.alias
    Order = apps.get_model("orders", "Order")
    OrderLine = apps.get_model("orders", "OrderLine")
    OrderTransition = apps.get_model("orders", "OrderTransition")
    Shipment = apps.get_model("orders", "Shipment")
    ShipmentLine = apps.get_model("orders", "ShipmentLine")
    CarrierReport = apps.get_model("orders", "CarrierReport")
    shipped = (
        Order.objects.using(db)
        .exclude(tracking_number="")
        .order_by("pk")
        .values_list("pk", "carrier", "tracking_number", "status")
        .iterator(chunk_size=BATCH)
    )
    while batch := list(islice(shipped, BATCH)):
        order_ids = [order_id for order_id, *_ in batch]
        handed = OrderTransition.objects.using(db).filter(
            order_id=OuterRef("order_id"), to_status="shipped"
        )
        actors = dict(
            OrderTransition.objects.using(db)
            .filter(order_id__in=order_ids, to_status="shipped")
            .values_list("order_id", "actor")
        )
        shipments = {
            order_id: Shipment(
                id=uuid.uuid4(),
                order_id=order_id,
                carrier=carrier,
                tracking_number=tracking_number,
                status=PARCEL_STATUS.get(status, "in_transit"),
                actor=actors.get(order_id, "system"),
            )
            for order_id, carrier, tracking_number, status in batch
        }
        Shipment.objects.using(db).bulk_create(shipments.values())
        # when the order shipped, not now (auto_now_add stamped the insert)
        Shipment.objects.using(db).filter(order_id__in=order_ids).update(
            created_at=Coalesce(
                Subquery(handed.order_by("-id").values("created_at")[:1]), F("created_at")
            )
        )
        ShipmentLine.objects.using(db).bulk_create(
            ShipmentLine(
                shipment_id=shipments[order_id].id,
                order_line_id=line_id,
                sku=sku,
                quantity=quantity,
            )
            for line_id, order_id, sku, quantity in OrderLine.objects.using(db)
            .filter(order_id__in=order_ids)
            .values_list("pk", "order_id", "sku", "quantity")
        )
        CarrierReport.objects.using(db).filter(order_id__in=order_ids).update(
            shipment_id=Subquery(
                Shipment.objects.using(db).filter(order_id=OuterRef("order_id")).values("id")[:1]
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0011_carrier_accounts"),
    ]

    operations = [
        migrations.CreateModel(
            name="Shipment",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("carrier", models.CharField(editable=False, max_length=50)),
                ("service", models.CharField(blank=True, editable=False, max_length=50)),
                ("tracking_number", models.CharField(db_index=True, editable=False, max_length=64)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("in_transit", "In transit"),
                            ("out_for_delivery", "Out for delivery"),
                            ("delivered", "Delivered"),
                            ("delivery_failed", "Delivery attempt failed"),
                        ],
                        default="in_transit",
                        editable=False,
                        max_length=20,
                    ),
                ),
                ("eta", models.DateTimeField(blank=True, editable=False, null=True)),
                ("actor", models.CharField(editable=False, max_length=100)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ["created_at", "id"],
            },
        ),
        migrations.CreateModel(
            name="ShipmentLine",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sku", models.CharField(max_length=64)),
                ("quantity", models.PositiveIntegerField()),
            ],
            options={
                "ordering": ["id"],
            },
        ),
        migrations.RemoveConstraint(
            model_name="order",
            name="order_unique_parcel_on_the_road",
        ),
        migrations.AlterField(
            model_name="order",
            name="status",
            field=models.CharField(
                choices=[
                    ("placed", "Placed"),
                    ("reserved", "Stock reserved"),
                    ("paid", "Paid"),
                    ("confirmed", "Confirmed"),
                    ("partially_shipped", "Partially shipped"),
                    ("shipped", "Shipped"),
                    ("out_for_delivery", "Out for delivery"),
                    ("delivered", "Delivered"),
                    ("rejected", "Rejected"),
                    ("cancelled", "Cancelled"),
                ],
                default="placed",
                editable=False,
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="ordertransition",
            name="from_status",
            field=models.CharField(
                choices=[
                    ("placed", "Placed"),
                    ("reserved", "Stock reserved"),
                    ("paid", "Paid"),
                    ("confirmed", "Confirmed"),
                    ("partially_shipped", "Partially shipped"),
                    ("shipped", "Shipped"),
                    ("out_for_delivery", "Out for delivery"),
                    ("delivered", "Delivered"),
                    ("rejected", "Rejected"),
                    ("cancelled", "Cancelled"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="ordertransition",
            name="to_status",
            field=models.CharField(
                choices=[
                    ("placed", "Placed"),
                    ("reserved", "Stock reserved"),
                    ("paid", "Paid"),
                    ("confirmed", "Confirmed"),
                    ("partially_shipped", "Partially shipped"),
                    ("shipped", "Shipped"),
                    ("out_for_delivery", "Out for delivery"),
                    ("delivered", "Delivered"),
                    ("rejected", "Rejected"),
                    ("cancelled", "Cancelled"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="shipment",
            name="order",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="shipments",
                to="orders.order",
            ),
        ),
        migrations.AddField(
            model_name="carrierreport",
            name="shipment",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="carrier_reports",
                to="orders.shipment",
            ),
        ),
        migrations.AddField(
            model_name="shipmentline",
            name="order_line",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="shipment_lines",
                to="orders.orderline",
            ),
        ),
        migrations.AddField(
            model_name="shipmentline",
            name="shipment",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="lines",
                to="orders.shipment",
            ),
        ),
        migrations.AddConstraint(
            model_name="shipment",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("carrier"),
                models.F("tracking_number"),
                condition=models.Q(
                    ("status__in", ("in_transit", "out_for_delivery", "delivery_failed"))
                ),
                name="shipment_unique_parcel_on_the_road",
            ),
        ),
        migrations.AddConstraint(
            model_name="shipmentline",
            constraint=models.UniqueConstraint(
                fields=("shipment", "order_line"), name="shipmentline_unique_shipment_line"
            ),
        ),
        migrations.AddConstraint(
            model_name="shipmentline",
            constraint=models.CheckConstraint(
                condition=models.Q(("quantity__gte", 1)), name="shipmentline_quantity_positive"
            ),
        ),
        migrations.RunPython(one_shipment_per_shipped_order, migrations.RunPython.noop),
    ]
