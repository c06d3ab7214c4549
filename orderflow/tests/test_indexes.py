"""The tables every order writes keep no index another one already serves, and lose none a
foreign key needs.

Each index is paid on every insert, and on every update that changes an indexed column (a
status change never is a HOT update): an index whose columns lead another's serves no query
the other does not. A foreign key's own index can go only where another index leads with
its column, or deleting the referenced row scans the table.
"""

import pytest
from django.db import connection

from notifications.models import WebhookDelivery
from orderflow.models import Delivery, InboxEntry, OutboxEvent
from orders.models import Order, OrderLine, Product
from payments.models import Invoice, Payment
from tracking.models import TrackedOrder, TrackingEntry

pytestmark = pytest.mark.django_db

#: written for every order, most of them several times
HOT = [
    Order,
    OrderLine,
    Product,
    OutboxEvent,
    Delivery,
    InboxEntry,
    Payment,
    Invoice,
    WebhookDelivery,
    TrackedOrder,
    TrackingEntry,
]

_INDEXES = """
SELECT c.relname, i.indisunique, i.indpred IS NOT NULL, i.indexprs IS NOT NULL,
       ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.n),
       i.indclass::text
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = %s::regclass
"""


def indexes(model) -> list[tuple[str, bool, bool, bool, list[str], str]]:
    with connection.cursor() as cursor:
        cursor.execute(_INDEXES, [model._meta.db_table])
        return cursor.fetchall()


@pytest.mark.parametrize("model", HOT, ids=lambda model: model._meta.db_table)
def test_no_plain_index_is_served_by_another(model):
    found = indexes(model)
    redundant = [
        (name, other)
        for name, unique, partial, expression, columns, opclasses in found
        if not (unique or partial or expression)
        for other, _, other_partial, other_expression, other_columns, other_opclasses in found
        if other != name
        and not (other_partial or other_expression)
        and other_columns[: len(columns)] == columns
        and other_opclasses.split()[: len(columns)] == opclasses.split()
    ]

    assert redundant == []


@pytest.mark.parametrize("model", HOT, ids=lambda model: model._meta.db_table)
def test_every_foreign_key_leads_an_index(model):
    leading = {
        columns[0]
        for _, _, partial, expression, columns, _ in indexes(model)
        if not (partial or expression) and columns
    }
    foreign_keys = [
        field.column
        for field in model._meta.concrete_fields
        if field.is_relation and field.db_constraint
    ]

    assert [column for column in foreign_keys if column not in leading] == []


def test_the_dropped_indexes_are_gone():
    names = {row[0] for model in HOT for row in indexes(model)}

    assert not names & {
        "orders_order_shop_id_b562fb3d",
        "orders_order_tracking_number_68fdb9a3",
        "orders_order_tracking_number_68fdb9a3_like",
        "orders_order_tracking_token_c0dd4d3d_like",
        "orders_orderline_order_id_17f8f3ef",
        "orders_product_shop_id_f1c1c899",
        "orderflow_delivery_event_id_c6c6ff83",
        "notifications_webhookdelivery_endpoint_id_92faf2d0",
        "tracking_trackingentry_order_id_78c3448f",
        "tracking_trackedorder_tracking_token_f10fe86b_like",
    }
    assert {"order_unique_tracking_token", "tracked_unique_token"} <= names
