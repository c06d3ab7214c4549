"""Measure the tracking projector's cost per order: batches of the feed, as the engine runs them.

    createdb -h 127.0.0.1 -U postgres orderflow_measure
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderflow_measure
    export REDIS_URL=redis://127.0.0.1:6379/0
    .venv/bin/python manage.py migrate -v0
    .venv/bin/python -m devtools.measure_projection [ORDERS]

Places ORDERS orders (not measured), then applies each order's six saga events
(placed, reserved, captured, paid, confirmed, invoiced, as the orders context publishes
them, with their facts) in feed order, in batches of 200 (the engine's default), one
transaction each, and prints CPU and wall time per order: the apply (its SQL), the
on-commit work (live snapshots in one Redis pipeline, the pushes built and sent on the
Redis channel layer) and the statements per batch.
"""

import os
import statistics
import sys
import time


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")
    import django

    django.setup()
    from django.db import connection, transaction

    from testkit.factories import ProductFactory, ShopFactory, order_for
    from tracking import push
    from tracking.services.projection import tracking_project
    from tracking.tests.feed import Story

    orders = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=orders * 2)
    stories = [Story(order_for(shop)) for _ in range(orders)]
    # the feed interleaves orders: each saga step of every order, in waves
    per_order = [story.to_confirmed() for story in stories]
    feed = [events[step] for step in range(6) for events in per_order]
    batches = [feed[i : i + 200] for i in range(0, len(feed), 200)]

    sent = []
    send = push.send

    def counting_send(messages):
        sent.append(len(messages))
        send(messages)

    push.send = counting_send
    cpu_apply, cpu_total, wall = [], [], []
    for batch in batches:
        wall_start = time.perf_counter()
        total_start = time.thread_time()
        with transaction.atomic():
            apply_start = time.thread_time()
            tracking_project(events=batch)
            cpu_apply.append(time.thread_time() - apply_start)
        cpu_total.append(time.thread_time() - total_start)  # on-commit work included
        wall.append(time.perf_counter() - wall_start)
    connection.close()

    def per_order(values):
        return sum(values) / orders * 1e3

    print(
        f"{orders} orders, {len(feed)} events, {len(batches)} batches of up to 200:\n"
        f"  apply (SQL, this thread's CPU): {per_order(cpu_apply):.3f} ms per order\n"
        f"  apply + on-commit (snapshots pipeline, pushes built and queued): "
        f"{per_order(cpu_total):.3f} ms CPU per order\n"
        f"  wall per batch: median {statistics.median(wall) * 1e3:.1f} ms\n"
        f"  channel-layer messages: {sum(sent)} for {orders} orders "
        f"({sum(sent) / orders:.2f} per order)"
    )


if __name__ == "__main__":
    main()
