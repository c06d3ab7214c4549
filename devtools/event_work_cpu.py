"""CPU of the event work per order, in-process: place N orders (kicks off), then drain.

    DATABASE_URL=postgres://…/scratch REDIS_URL=redis://127.0.0.1:6379/7 DEBUG=true \\
    PAYMENT_LATENCY_MS=0 .venv/bin/python -m devtools.event_work_cpu 200 [--lane-only]

``--lane-only``: one saga lane run (relay + the four saga steps + continuation);
otherwise ``drain()`` until quiet (the lane and the projectors). A scratch database
(migrated) only: it adds a shop, a product and N orders. Counts statements through an
execute wrapper (prepared ones included). Senders' work is not included.
"""

import os
import sys
import time
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402

from devtools.statements import sent_statements  # noqa: E402
from orderflow.events.lane import lane_drain  # noqa: E402
from orderflow.events.pump import drain  # noqa: E402
from orders.models import Order  # noqa: E402
from testkit.factories import ProductFactory, ShopFactory, order_for  # noqa: E402


def main() -> None:
    count = int(next((a for a in sys.argv[1:] if a.isdigit()), "200"))
    lane_only = "--lane-only" in sys.argv
    settings.FAULTS_UNSAFE_NO_KICK = True  # the work waits for the drain below
    shop = ShopFactory(slug=f"cpu-{uuid.uuid4().hex[:8]}")
    ProductFactory(shop=shop, sku="COFFEE-1KG", on_hand=1_000_000)
    ids = [order_for(shop).pk for _ in range(count)]
    cpu, wall = time.process_time(), time.perf_counter()
    with sent_statements() as statements:
        if lane_only:
            lane_drain(max_seconds=600)
        else:
            while drain(max_seconds=600).handled:
                pass
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    confirmed = Order.objects.filter(pk__in=ids, status="confirmed").count()
    print(
        f"orders={count} confirmed={confirmed} {'lane' if lane_only else 'lane+projectors'}: "
        f"cpu_ms_per_order={cpu * 1000 / count:.2f} wall_ms_per_order={wall * 1000 / count:.2f} "
        f"statements_per_order={len(statements) / count:.1f}"
    )


if __name__ == "__main__":
    main()
