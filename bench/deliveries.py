"""Delivery throughput and latency of the event machinery, against a one-task-per-delivery
Celery baseline measured with the same two worker processes in the same run."""

import statistics
import tempfile
import time
import uuid

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F

from devtools.processes import celery_beat, celery_worker, wait_until
from orderflow.events import publish
from orderflow.models import Delivery, DeliveryStatus, OutboxEvent
from tests.probe.events import ProbeNoop

from .tasks import COUNTER_KEY, noop_task

WORKER_PROCESSES = 2


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _reset() -> None:
    _redis().flushdb()
    Delivery.objects.all().delete()
    OutboxEvent.objects.all().delete()


def _publish_noops(count: int, *, per_transaction: int = 500) -> None:
    for start in range(0, count, per_transaction):
        with transaction.atomic():
            for _ in range(min(per_transaction, count - start)):
                publish(ProbeNoop(probe_id=uuid.uuid4()), sequence=1)


def _done(count: int) -> bool:
    return Delivery.objects.filter(status=DeliveryStatus.DONE).count() >= count


def delivery_throughput(env: dict[str, str], *, count: int) -> dict:
    """Deliveries per second, from a committed backlog to every delivery done."""
    _reset()
    _publish_noops(count)
    worker = celery_worker(env, concurrency=WORKER_PROCESSES).start()
    started = time.monotonic()
    try:
        finished = wait_until(lambda: _done(count), timeout=600, interval=0.1)
        elapsed = time.monotonic() - started
    finally:
        worker.stop()
    if not finished:
        raise RuntimeError(
            "deliveries did not finish in 10 minutes:\n" + "".join(worker.output[-30:])
        )
    return {"deliveries": count, "seconds": round(elapsed, 2), "per_second": round(count / elapsed)}


def celery_task_baseline(env: dict[str, str], *, count: int) -> dict:
    """No-op Celery tasks per second with the same worker processes: one task per delivery."""
    _reset()
    for _ in range(count):
        noop_task.apply_async()
    worker = celery_worker(env, concurrency=WORKER_PROCESSES).start()
    started = time.monotonic()
    try:
        finished = wait_until(
            lambda: int(_redis().get(COUNTER_KEY) or 0) >= count, timeout=600, interval=0.1
        )
        elapsed = time.monotonic() - started
    finally:
        worker.stop()
    if not finished:
        raise RuntimeError("baseline tasks did not finish in 10 minutes")
    return {"tasks": count, "seconds": round(elapsed, 2), "per_second": round(count / elapsed)}


def delivery_latency(env: dict[str, str], *, rate: int, seconds: float) -> dict:
    """Commit → handled latency at a steady rate, one event per transaction (as orders come)."""
    _reset()
    with tempfile.TemporaryDirectory() as schedule_dir:
        worker = celery_worker(env, concurrency=WORKER_PROCESSES).start()
        beat = celery_beat(env, schedule_dir=schedule_dir).start()
        try:
            total = int(rate * seconds)
            interval = 1.0 / rate
            next_at = time.monotonic()
            for _ in range(total):
                with transaction.atomic():
                    publish(ProbeNoop(probe_id=uuid.uuid4()), sequence=1)
                next_at += interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            achieved = total / (time.monotonic() - (next_at - total * interval))
            finished = wait_until(lambda: _done(total), timeout=120, interval=0.1)
        finally:
            beat.stop()
            worker.stop()
    if not finished:
        raise RuntimeError("deliveries did not finish within 2 minutes of the load")
    latencies = sorted(
        (row.total_seconds() * 1000)
        for row in Delivery.objects.annotate(
            latency=F("done_at") - F("event__created_at")
        ).values_list("latency", flat=True)
    )
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "rate": rate,
        "achieved_rate": round(achieved),
        "events": total,
        "p50_ms": round(cuts[49], 1),
        "p99_ms": round(cuts[98], 1),
        "max_ms": round(latencies[-1], 1),
    }
