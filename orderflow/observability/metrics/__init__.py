"""Prometheus metrics: every OrderFlow metric object, and the calls that record them.

One module names every metric, so a dashboard, an alert or a reader finds them in one
place. Code that records one calls a small function below rather than touching the
metric object, so label names and values stay consistent::

    from orderflow.observability import metrics

    metrics.record_webhook_delivery(outcome="sent", seconds=0.12)

HTTP, database and cache metrics come from django-prometheus (``django_*``). The event
backlog, dead letters and broker queue lengths are read when ``/metrics`` is scraped
(see :mod:`orderflow.observability.metrics.collectors`): they are facts held by PostgreSQL
and Redis, not counts a process could keep.

Several processes per container (gunicorn workers, Celery's prefork pool) share one
exposition through Prometheus' multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``); see
:mod:`orderflow.observability.metrics.exposition`. Gauges therefore declare how processes combine.
"""

from datetime import datetime
from functools import cache

from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram

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

# --- orders (counted from published events, after commit) -----------------------------------
# No shop label: /metrics would tell anyone who reaches it every shop's order volume, and a
# label per shop grows the series with the number of shops. A shop's own numbers are in
# its API and the admin.
ORDERS_PLACED = Counter("orderflow_orders_placed_total", "Orders placed (committed).")
ORDERS_CONFIRMED = Counter(
    "orderflow_orders_confirmed_total", "Orders confirmed (stock held, paid)."
)
ORDERS_CANCELLED = Counter("orderflow_orders_cancelled_total", "Orders cancelled before shipping.")
ORDERS_REJECTED = Counter("orderflow_orders_rejected_total", "Orders rejected (not enough stock).")
ORDER_INTAKE_SECONDS = Histogram(
    "orderflow_order_intake_seconds",
    "Time to answer a request that placed an order, from its arrival to its response.",
    buckets=LATENCY_BUCKETS,
)
ORDER_PLACED_TO_CONFIRMED_SECONDS = Histogram(
    "orderflow_order_placed_to_confirmed_seconds",
    "Time from an order's placing to the commit of its confirmation (stock and payment).",
    buckets=LATENCY_BUCKETS,
)

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

# --- notifications (recorded by notifications/) ----------------------------------------------
WEBHOOK_DELIVERIES = Counter(
    "orderflow_webhook_deliveries_total",
    "Webhook POST attempts to shops by outcome: sent (2xx), retry (failed, to be tried "
    "again) or failed (failed for good).",
    ["outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "orderflow_webhook_delivery_duration_seconds",
    "Duration of one webhook POST attempt to a shop, by outcome.",
    ["outcome"],
    buckets=DURATION_BUCKETS,
)
EMAILS = Counter(
    "orderflow_emails_total",
    "Customer e-mail attempts by outcome: sent, retry (failed, to be tried again) or failed.",
    ["outcome"],
)

# --- live tracking (recorded by tracking/) ---------------------------------------------------
WEBSOCKET_CONNECTIONS = Gauge(
    "orderflow_websocket_connections",
    "Open WebSocket connections, by consumer.",
    ["consumer"],
    multiprocess_mode="livesum",
)
WEBSOCKET_PUSHES = Counter(
    "orderflow_websocket_pushes_total",
    "Messages pushed to WebSocket clients, by consumer.",
    ["consumer"],
)

# --- the API (recorded by orders/api) ---------------------------------------------------------
RATE_LIMIT_UNCHECKED = Counter(
    "orderflow_rate_limit_unchecked_total",
    "API requests let through without a rate-limit check because Redis was unreachable.",
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

#: the same words as notifications' AttemptOutcome
OUTCOMES = frozenset({"sent", "retry", "failed"})
_ORDER_COUNTERS = {
    "order.placed": ORDERS_PLACED,
    "order.confirmed": ORDERS_CONFIRMED,
    "order.cancelled": ORDERS_CANCELLED,
    "order.rejected": ORDERS_REJECTED,
}


@cache
def _child(metric, *values: str):
    """``metric.labels(*values)``, looked up once per process for each label set.

    ``labels()`` validates and hashes its arguments under a lock on every call; the few
    label sets in use (subscribers, outcomes, event types) are fixed by the code.
    """
    return metric.labels(*values)


def record_event_committed(*, event_type: str) -> None:
    """Count a committed event; the order's own events also move the order counters."""
    _child(EVENTS_PUBLISHED, event_type).inc()
    counter = _ORDER_COUNTERS.get(event_type)
    if counter is not None:
        counter.inc()


def record_delivery(
    *, subscriber: str, outcome: str, seconds: float, event_created_at: datetime
) -> None:
    """Record one delivery run; a handled one also observes commit -> handled latency."""
    _child(DELIVERIES, subscriber, outcome).inc()
    _child(DELIVERY_SECONDS, subscriber).observe(seconds)
    if outcome == "done":
        latency = (timezone.now() - event_created_at).total_seconds()
        _child(EVENT_HANDLED_LATENCY_SECONDS, subscriber).observe(max(latency, 0.0))


def record_projector_batch(*, projector: str, events: int, seconds: float) -> None:
    """Record one batch a projector applied (its size and duration, not per event)."""
    _child(PROJECTOR_BATCH_EVENTS, projector).observe(events)
    _child(PROJECTOR_BATCH_SECONDS, projector).observe(seconds)


def record_projector_failure(*, projector: str, parked: bool) -> None:
    PROJECTOR_FAILURES.labels(projector=projector, outcome="parked" if parked else "retry").inc()


def record_webhook_delivery(*, outcome: str, seconds: float) -> None:
    """Record one webhook POST attempt: ``sent``, ``retry`` or ``failed``."""
    if outcome not in OUTCOMES:
        raise ValueError(f"webhook outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
    _child(WEBHOOK_DELIVERIES, outcome).inc()
    _child(WEBHOOK_SECONDS, outcome).observe(seconds)


def record_email(*, outcome: str) -> None:
    """Record one customer e-mail attempt: ``sent``, ``retry`` or ``failed``."""
    if outcome not in OUTCOMES:
        raise ValueError(f"e-mail outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
    _child(EMAILS, outcome).inc()


def record_rate_limit_unchecked() -> None:
    """Count a request the rate limit let through unchecked (it fails open without Redis)."""
    RATE_LIMIT_UNCHECKED.inc()


def websocket_connected(*, consumer: str) -> None:
    """Call from a consumer's ``connect()`` once the connection is accepted."""
    WEBSOCKET_CONNECTIONS.labels(consumer=consumer).inc()


def websocket_disconnected(*, consumer: str) -> None:
    """Call from a consumer's ``disconnect()`` (only for a connection that was accepted)."""
    WEBSOCKET_CONNECTIONS.labels(consumer=consumer).dec()


def record_websocket_push(*, consumer: str, messages: int = 1) -> None:
    """Count messages sent to WebSocket clients by ``consumer``."""
    _child(WEBSOCKET_PUSHES, consumer).inc(messages)
