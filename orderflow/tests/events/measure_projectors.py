"""Measure the projector engine's own cost per batch (not collected as a test).

    .venv/bin/pytest -q -s -p no:cacheprovider orderflow/tests/events/measure_projectors.py

Prints, for a projector whose apply does nothing, the wall and worker CPU time of a pass
(BEGIN, lock + read, checkpoint update, COMMIT) for batches of 1, 50 and 200 events, per
batch and per event, and what isolating one bad event in a batch of 200 costs.
"""

import statistics
import time
import uuid

import pytest
from django.db import transaction

from orderflow.events import publish
from orderflow.events.projectors import (
    _unregister,
    get_projector,
    projector,
    projector_pass,
)
from orderflow.events.relay import relay_batch
from orderflow.models import ProjectorCheckpoint
from tests.probe.events import ProbePinged

NAME = "measure.noop"


def feed(count: int, *, bad_at: int | None = None) -> None:
    with transaction.atomic():
        for i in range(count):
            behaviour = "broken" if i == bad_at else "ok"
            publish(ProbePinged(probe_id=uuid.uuid4(), shop_id=1, behaviour=behaviour))
    while relay_batch(limit=500):
        pass


@pytest.mark.django_db(transaction=True)
def test_measure_engine_cost_per_batch():
    calls = []

    @projector(NAME, event_types=["probe.pinged"], batch_size=200, max_attempts=1)
    def apply(batch):
        calls.append(len(batch))
        if any(e.data.get("behaviour") == "broken" for e in batch):
            raise RuntimeError("broken")

    try:
        p = get_projector(NAME)
        feed(1)
        while projector_pass(p).advanced:  # warm: checkpoint row, prepared statements
            pass
        for size in (1, 50, 200):
            times, cpu = [], []
            for _ in range(15):
                feed(size)
                started, started_cpu = time.perf_counter(), time.thread_time()
                result = projector_pass(p)
                cpu.append(time.thread_time() - started_cpu)
                times.append(time.perf_counter() - started)
                assert result.applied == size, result
            median, median_cpu = statistics.median(times), statistics.median(cpu)
            print(
                f"batch of {size:>3}: {median * 1000:6.2f} ms wall, {median_cpu * 1000:6.2f} ms "
                f"worker CPU per pass (medians of 15); {median_cpu / size * 1e6:7.1f} µs CPU "
                "per event"
            )
        feed(200, bad_at=137)
        calls.clear()
        started = time.perf_counter()
        while projector_pass(p).advanced:
            pass
        took = time.perf_counter() - started
        print(
            f"one bad event among 200: {took * 1000:.1f} ms, {len(calls)} apply calls "
            f"(bisection) until parked and the rest applied"
        )
        assert ProjectorCheckpoint.objects.get(name=NAME).attempts == 0
    finally:
        _unregister(NAME)
