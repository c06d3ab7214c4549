"""Measure one ``group_send`` on each Redis channel layer: wall time and CPU per send.

    DJANGO_SETTINGS_MODULE=orderflow.settings .venv/bin/python -m devtools.measure_layers [N]

Each layer sends N pushes shaped like the tracking projector's (a batch's entries of one
order) to a group with one member that receives every one (so the cost of a send that
is actually delivered is measured, not of one to an empty group). Prints the median
and the 95th percentile wall time per send, and the process CPU per send (sender and
receiver share the process and loop, as a daphne process serving its sockets would).
"""

import asyncio
import os
import statistics
import sys
import time
import uuid

import django

LAYERS = {
    "core (RedisChannelLayer)": "channels_redis.core.RedisChannelLayer",
    "pubsub (RedisPubSubChannelLayer)": "channels_redis.pubsub.RedisPubSubChannelLayer",
}

MESSAGE = {
    "type": "tracking.entries",
    "entries": [
        {
            "id": n,
            "status": "paid",
            "label": "Paid",
            "aggregate": "order",
            "sequence": n,
            "occurred_at": "2026-12-03T23:00:00+00:00",
            "source": "system",
            "note": "",
            "location": "",
        }
        for n in range(3)
    ],
    "order": {"status": "paid", "status_label": "Paid", "sequence": 3, "next_step": "x"},
}


async def measure(backend: str, url: str, n: int) -> tuple[list[float], float]:
    module, _, name = backend.rpartition(".")
    layer_class = getattr(__import__(module, fromlist=[name]), name)
    layer = layer_class(hosts=[url], prefix=f"measure-{uuid.uuid4().hex[:8]}")
    group = f"order.{uuid.uuid4()}"
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    for _ in range(20):  # warm up: connections, scripts, subscriptions
        await layer.group_send(group, MESSAGE)
        await layer.receive(channel)
    times = []
    cpu = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        await layer.group_send(group, MESSAGE)
        times.append(time.perf_counter() - start)
        await layer.receive(channel)
    cpu = time.process_time() - cpu
    await layer.group_discard(group, channel)
    if hasattr(layer, "flush"):
        await layer.flush()
    return times, cpu / n


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")
    django.setup()
    from django.conf import settings

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for label, backend in LAYERS.items():
        times, cpu = asyncio.run(measure(backend, settings.REDIS_URL, n))
        times.sort()
        print(
            f"{label}: group_send median {statistics.median(times) * 1e6:.0f} µs, "
            f"p95 {times[int(len(times) * 0.95)] * 1e6:.0f} µs, "
            f"CPU per send+receive {cpu * 1e6:.0f} µs (n={n})"
        )


if __name__ == "__main__":
    main()
