"""Best-effort receivers that feed the metrics: published events and Celery's task signals.

Connected once per process by ``OrderFlowConfig.ready()``. A receiver never fails the
business path: what it records happens after commit (``robust`` on_commit callbacks),
and a lost sample is a gap in a graph, not a lost order.
"""

import logging
import os
import threading
import time
from functools import partial

from celery import signals as celery_signals
from django.conf import settings
from django.db import transaction
from prometheus_client import multiprocess

from orderflow.events import event_published

from . import CELERY_TASK_SECONDS, CELERY_TASKS, record_event_committed
from .exposition import start_worker_exporter

logger = logging.getLogger(__name__)


def count_published_event(sender, event, **kwargs) -> None:
    """Count ``event`` once its transaction commits (a rolled-back event never happened)."""
    transaction.on_commit(partial(_event_committed, event), robust=True)


def _event_committed(event) -> None:
    record_event_committed(event_type=event.type)


# --- Celery ---------------------------------------------------------------------------------
_task_started: dict[str, float] = {}
_task_lock = threading.Lock()


def _task_prerun(task_id: str, task, **kwargs) -> None:
    with _task_lock:
        _task_started[task_id] = time.perf_counter()


def _task_postrun(task_id: str, task, state: str | None = None, **kwargs) -> None:
    with _task_lock:
        started = _task_started.pop(task_id, None)
    CELERY_TASKS.labels(task=task.name, state=state or "UNKNOWN").inc()
    if started is not None:
        CELERY_TASK_SECONDS.labels(task=task.name).observe(time.perf_counter() - started)


def _worker_ready(**kwargs) -> None:
    if settings.WORKER_METRICS_PORT:
        start_worker_exporter(
            address=settings.WORKER_METRICS_ADDRESS, port=settings.WORKER_METRICS_PORT
        )


def _worker_process_shutdown(pid: int | None = None, **kwargs) -> None:
    # A pool process that ends leaves its files behind; its live gauges must stop counting.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid or os.getpid())


def connect() -> None:
    """Connect every receiver (idempotent: each has a dispatch uid)."""
    event_published.connect(
        count_published_event, dispatch_uid="orderflow.metrics.count_published_event"
    )
    celery_signals.task_prerun.connect(
        _task_prerun, dispatch_uid="orderflow.metrics.task_prerun", weak=False
    )
    celery_signals.task_postrun.connect(
        _task_postrun, dispatch_uid="orderflow.metrics.task_postrun", weak=False
    )
    celery_signals.worker_ready.connect(
        _worker_ready, dispatch_uid="orderflow.metrics.worker_ready", weak=False
    )
    celery_signals.worker_process_shutdown.connect(
        _worker_process_shutdown, dispatch_uid="orderflow.metrics.process_shutdown", weak=False
    )
