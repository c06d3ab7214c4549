"""The bench's limit script runs against the current schema (it is SQL the ORM does not check).

A column the models add without a database default (``Order.external_reference`` did) makes
every pgbench transaction fail; the bench then has no limit to read the intake against.
"""

import shutil

import pytest
from django.db import connection

from bench import limit, live
from orderflow.models import OutboxEvent
from orders import services
from orders.models import Order, OrderLine

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        shutil.which("pgbench") is None, reason="pgbench (PostgreSQL) not installed"
    ),
]


def test_the_limit_script_places_orders_on_this_schema():
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    shop, _ = live.shop_with_catalog("Limit script shop")
    _, raw_key = services.api_key_create(shop=shop, name="pgbench")

    step = limit._pgbench(url, shop, raw_key, clients=1, seconds=1)

    assert step["transactions"] > 0
    assert step["failed"] == 0
    orders = Order.objects.filter(shop=shop)
    assert orders.count() == step["transactions"]
    assert OrderLine.objects.filter(order__shop=shop).count() >= step["transactions"]
    assert OutboxEvent.objects.filter(tenant_id=str(shop.pk)).count() == step["transactions"]
