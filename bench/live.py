"""What the end-to-end phases share: the processes' environment, a free loopback port,
daphne, a shop with a catalog, placing one order, and P50/P99 of a list of latencies."""

import os
import random
import socket
import statistics
import sys
from decimal import Decimal

from devtools.processes import ManagedProcess
from orders import services
from orders.models import Order, Shop


def process_env() -> dict[str, str]:
    """The bench's environment as it is *after* Django loaded its settings.

    The bench settings (the test settings) name the Celery queue, the channel layer and
    the cache key space after the process that loads them first, and hand them to child
    processes through the environment: daphne, the worker and this process must agree.
    """
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def daphne(env: dict[str, str], port: int) -> ManagedProcess:
    # daphne says it listens at INFO, which the bench's LOG_LEVEL would hide
    env = {**env, "LOG_LEVEL": "INFO"}
    return ManagedProcess(
        "daphne",
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "orderflow.asgi:application"],
        env,
        ready_marker="Listening on TCP address",
    )  # fmt: skip


def shop_with_catalog(name: str) -> tuple[Shop, list[str]]:
    shop = services.shop_create(name=name, currency="EUR")
    skus = [f"BENCH-{n}" for n in range(20)]
    for sku in skus:
        services.product_create(
            shop=shop, sku=sku, name=sku, price=Decimal("9.90"), stock=10_000_000
        )
    return shop, skus


def place(shop: Shop, skus: list[str]) -> Order:
    lines = [
        services.LineInput(sku=sku, quantity=random.randint(1, 3))
        for sku in random.sample(skus, random.randint(1, 5))
    ]
    return services.order_place(
        shop=shop,
        customer=services.CustomerInput(name="Bench Customer", email="bench@example.com"),
        shipping_address={"line1": "1 Bench St", "city": "Lisbon", "postal_code": "1000-001",
                          "country": "PT"},
        lines=lines,
        payment_token="tok_ok",
    )  # fmt: skip


def percentiles(latencies_ms: list[float]) -> dict:
    if len(latencies_ms) < 2:
        raise RuntimeError(f"too few samples for percentiles: {len(latencies_ms)}")
    latencies_ms = sorted(latencies_ms)
    cuts = statistics.quantiles(latencies_ms, n=100)
    return {
        "p50_ms": round(cuts[49], 1),
        "p99_ms": round(cuts[98], 1),
        "max_ms": round(latencies_ms[-1], 1),
    }
