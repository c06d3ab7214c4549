"""Prometheus metrics: the kernel's own series, and the helpers every context's use.

The kernel names what it runs: published events, the saga lane's deliveries, projector
batches and Celery tasks. Each context names the series of its own words in its own
``metrics.py`` (``orders.metrics``: orders placed, confirmed, intake latency;
``notifications.metrics``: webhooks and e-mails; ``tracking.metrics``: sockets), with the
buckets and :func:`labels_once` from here. Code that records one calls a small function
rather than touching the metric object, so label names and values stay consistent::

    from notifications import metrics

    metrics.record_webhook_delivery(outcome="sent", seconds=0.12)

HTTP, database and cache metrics come from django-prometheus (``django_*``). The event
backlog, dead letters and broker queue lengths are read when ``/metrics`` is scraped
(see :mod:`orderflow.observability.metrics.collectors`): they are facts held by PostgreSQL
and Redis, not counts a process could keep.

Several processes per container (gunicorn workers, Celery's prefork pool) share one
exposition through Prometheus' multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``); see
:mod:`orderflow.observability.metrics.exposition`. Gauges therefore declare how processes
combine.
"""

from datetime import datetime
from functools import cache

from django.utils import timezone
from prometheus_client import Counter, Histogram

#: Latency buckets (seconds) around the performance contract: intake P99 <= 200 ms,
#: placed -> confirmed P99 <= 250 ms, a tracking push within 100 ms.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip
#: Outbound calls and task runtimes: a wider range, up to the Celery time limit.
DURATION_BUCKETS = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
)  # fmt: skip

# --- the event pipeline (recorded by the kernel's relay) -------------------------------------
EVENTS_PUBLISHED = Counter(
    "orderflow_events_published_total", "Domain events committed to the outbox, by type.", ["type"]
)
EVENTS_RELAYED = Counter(
    "orderflow_events_relayed_total", "Outbox events fanned out into deliveries by the relay."
)
DELIVERIES = Counter(
    "orderflow_deliveries_total",
    "Delivery runs by subscriber and outcome: done, duplicate (already handled), retry "
    "(failed, scheduled again) or dead (failed for good: a dead letter).",
    ["subscriber", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "orderflow_delivery_duration_seconds",
    "Time one delivery run took (handler and its transaction), by subscriber.",
    ["subscriber"],
    buckets=DURATION_BUCKETS,
)
EVENT_HANDLED_LATENCY_SECONDS = Histogram(
    "orderflow_event_handled_latency_seconds",
    "Time from an event's commit to the commit of a subscriber's handling of it.",
    ["subscriber"],
    buckets=LATENCY_BUCKETS,
)

# --- projectors (recorded by the kernel's projector engine, per batch) -------------------------
#: Events per projector batch: powers of two up to well past the usual batch size.
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
PROJECTOR_BATCH_EVENTS = Histogram(
    "orderflow_projector_batch_events",
    "Events in one projector batch applied (one transaction), by projector.",
    ["projector"],
    buckets=BATCH_SIZE_BUCKETS,
)
PROJECTOR_BATCH_SECONDS = Histogram(
    "orderflow_projector_batch_duration_seconds",
    "Time a projector took to apply one batch, by projector.",
    ["projector"],
    buckets=DURATION_BUCKETS,
)
PROJECTOR_FAILURES = Counter(
    "orderflow_projector_failures_total",
    "Events a projector failed on, by outcome: retry (scheduled again) or parked (for good).",
    ["projector", "outcome"],
)

# --- Celery (recorded from Celery's task signals) --------------------------------------------
CELERY_TASKS = Counter(
    "orderflow_celery_tasks_total", "Celery tasks run, by task and final state.", ["task", "state"]
)
CELERY_TASK_SECONDS = Histogram(
    "orderflow_celery_task_duration_seconds",
    "Runtime of Celery tasks, by task.",
    ["task"],
    buckets=DURATION_BUCKETS,
)


@cache
def labels_once(metric, *values: str):
    """``metric.labels(*values)``, looked up once per process for each label set.

    ``labels()`` validates and hashes its arguments under a lock on every call; the few
    label sets in use (subscribers, outcomes, event types) are fixed by the code.
    """
    return metric.labels(*values)


def record_event_committed(*, event_type: str) -> None:
    """Count a committed event, by type (a context counts its own facts in its metrics)."""
    labels_once(EVENTS_PUBLISHED, event_type).inc()


def record_delivery(
    *, subscriber: str, outcome: str, seconds: float, event_created_at: datetime
) -> None:
    """Record one delivery run; a handled one also observes commit -> handled latency."""
    labels_once(DELIVERIES, subscriber, outcome).inc()
    labels_once(DELIVERY_SECONDS, subscriber).observe(seconds)
    if outcome == "done":
        latency = (timezone.now() - event_created_at).total_seconds()
        labels_once(EVENT_HANDLED_LATENCY_SECONDS, subscriber).observe(max(latency, 0.0))


def record_projector_batch(*, projector: str, events: int, seconds: float) -> None:
    """Record one batch a projector applied (its size and duration, not per event)."""
    labels_once(PROJECTOR_BATCH_EVENTS, projector).observe(events)
    labels_once(PROJECTOR_BATCH_SECONDS, projector).observe(seconds)


def record_projector_failure(*, projector: str, parked: bool) -> None:
    PROJECTOR_FAILURES.labels(projector=projector, outcome="parked" if parked else "retry").inc()
