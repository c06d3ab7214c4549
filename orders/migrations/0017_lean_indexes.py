"""Indexes no query needs, paid on every insert and every status change of an order.

- ``orders_order.shop_id``, ``orders_product.shop_id``, ``orders_orderline.order_id``: each
  a foreign key's own index, where a composite index already leads with the column;
- ``orders_order.tracking_number`` (and its LIKE twin): nothing looks an order up by it;
- ``orders_order.tracking_token``'s LIKE index: the token is unique by a constraint now.

Concurrently, so a live table keeps taking orders (``orderflow.migration_ops``).
"""

import django.db.models.deletion
from django.db import migrations, models

import orders.models
from orderflow.migration_ops import drop_index, unique_field_to_constraint


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY

    dependencies = [
        ("orders", "0016_shipment_issue_resolved"),
    ]

    operations = [
        drop_index(
            migrations.AlterField(
                model_name="order",
                name="shop",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="orders",
                    to="orders.shop",
                ),
            ),
            table="orders_order",
            indexes={"orders_order_shop_id_b562fb3d": '"shop_id"'},
        ),
        drop_index(
            migrations.AlterField(
                model_name="order",
                name="tracking_number",
                field=models.CharField(blank=True, editable=False, max_length=64),
            ),
            table="orders_order",
            indexes={
                "orders_order_tracking_number_68fdb9a3": '"tracking_number"',
                "orders_order_tracking_number_68fdb9a3_like": (
                    '"tracking_number" varchar_pattern_ops'
                ),
            },
        ),
        unique_field_to_constraint(
            [
                migrations.AlterField(
                    model_name="order",
                    name="tracking_token",
                    field=models.CharField(
                        default=orders.models._tracking_token, editable=False, max_length=64
                    ),
                ),
                migrations.AddConstraint(
                    model_name="order",
                    constraint=models.UniqueConstraint(
                        fields=("tracking_token",), name="order_unique_tracking_token"
                    ),
                ),
            ],
            app_label="orders",
            model="order",
            column="tracking_token",
            constraint="order_unique_tracking_token",
        ),
        drop_index(
            migrations.AlterField(
                model_name="orderline",
                name="order",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="lines",
                    to="orders.order",
                ),
            ),
            table="orders_orderline",
            indexes={"orders_orderline_order_id_17f8f3ef": '"order_id"'},
        ),
        drop_index(
            migrations.AlterField(
                model_name="product",
                name="shop",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="products",
                    to="orders.shop",
                ),
            ),
            table="orders_product",
            indexes={"orders_product_shop_id_f1c1c899": '"shop_id"'},
        ),
    ]
