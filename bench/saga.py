"""Placed → confirmed latency of the order saga (stock, payment, confirmation) at a steady
rate of orders, with the simulated gateway at zero latency."""

import random
import statistics
import tempfile
import time
from decimal import Decimal

from django.db.models import F, OuterRef, Subquery

from devtools.processes import celery_beat, celery_worker, wait_until
from orders import services
from orders.models import Order, OrderTransition, Shop

from .deliveries import WORKER_PROCESSES, _reset

FINAL = ("confirmed", "cancelled", "rejected")


def _shop_with_catalog() -> tuple[Shop, list[str]]:
    shop = services.shop_create(name="Bench Shop", currency="EUR")
    skus = [f"BENCH-{n}" for n in range(20)]
    for sku in skus:
        services.product_create(
            shop=shop, sku=sku, name=sku, price=Decimal("9.90"), stock=10_000_000
        )
    return shop, skus


def _place(shop: Shop, skus: list[str]) -> None:
    lines = [
        services.LineInput(sku=sku, quantity=random.randint(1, 3))
        for sku in random.sample(skus, random.randint(1, 5))
    ]
    services.order_place(
        shop=shop,
        customer=services.CustomerInput(name="Bench Customer", email="bench@example.com"),
        shipping_address={"line1": "1 Bench St", "city": "Lisbon", "postal_code": "1000-001",
                          "country": "PT"},
        lines=lines,
        payment_token="tok_ok",
    )  # fmt: skip


def placed_to_confirmed(env: dict[str, str], *, rate: int, seconds: float) -> dict:
    _reset()
    Order.objects.all().delete()
    shop, skus = _shop_with_catalog()
    total = int(rate * seconds)
    with tempfile.TemporaryDirectory() as schedule_dir:
        worker = celery_worker(env, concurrency=WORKER_PROCESSES).start()
        beat = celery_beat(env, schedule_dir=schedule_dir).start()
        try:
            started = time.monotonic()
            next_at = started
            for _ in range(total):
                _place(shop, skus)
                next_at += 1.0 / rate
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            achieved = total / (time.monotonic() - started)
            finished = wait_until(
                lambda: not Order.objects.exclude(status__in=FINAL).exists(),
                timeout=120,
                interval=0.2,
            )
        finally:
            beat.stop()
            worker.stop()
    if not finished:
        raise RuntimeError("orders did not all reach a final state within 2 minutes")
    confirmed_at = OrderTransition.objects.filter(
        order=OuterRef("pk"), to_status="confirmed"
    ).values("created_at")[:1]
    latencies = sorted(
        delta.total_seconds() * 1000
        for delta in Order.objects.annotate(confirmed_at=Subquery(confirmed_at))
        .filter(confirmed_at__isnull=False)
        .annotate(latency=F("confirmed_at") - F("created_at"))
        .values_list("latency", flat=True)
    )
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "rate": rate,
        "achieved_rate": round(achieved),
        "orders": total,
        "confirmed": len(latencies),
        "not_confirmed": total - len(latencies),
        "p50_ms": round(cuts[49], 1),
        "p99_ms": round(cuts[98], 1),
        "max_ms": round(latencies[-1], 1),
    }
