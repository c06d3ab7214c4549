"""The orders context's metrics: orders counted from their committed events, intake latency,
placed -> confirmed, and the API's unchecked rate limits.

No shop label: /metrics would tell anyone who reaches it every shop's order volume, and a
label per shop grows the series with the number of shops. A shop's own numbers are in its
API and the admin.

The counters move when an order's event commits (a rolled-back event never happened): the
receiver of ``event_published`` queues one ``robust`` on-commit callback for the four order
events it counts, and none for any other event. The intake middleware does not know which
views place orders: the ``order.placed`` commit marks the request, and the middleware
observes only marked requests (the API, a staff page or any future channel).
"""

import contextvars
import time
from functools import partial

from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram

from orderflow.events import event_published
from orderflow.observability.metrics import LATENCY_BUCKETS

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
RATE_LIMIT_UNCHECKED = Counter(
    "orderflow_rate_limit_unchecked_total",
    "API requests let through without a rate-limit check because Redis was unreachable.",
)

_ORDER_COUNTERS = {
    "order.placed": ORDERS_PLACED,
    "order.confirmed": ORDERS_CONFIRMED,
    "order.cancelled": ORDERS_CANCELLED,
    "order.rejected": ORDERS_REJECTED,
}


def record_rate_limit_unchecked() -> None:
    """Count a request the rate limit let through unchecked (it fails open without Redis)."""
    RATE_LIMIT_UNCHECKED.inc()


def count_order_event(sender, event, **kwargs) -> None:
    """Receiver of ``event_published``: count an order's event once it commits."""
    if event.type in _ORDER_COUNTERS:
        transaction.on_commit(partial(_order_event_committed, event), robust=True)


def _order_event_committed(event) -> None:
    _ORDER_COUNTERS[event.type].inc()
    if event.type == "order.placed":
        mark_order_placed()
    elif event.type == "order.confirmed":
        # The event carries when its order was placed (a fact its readers need): no query.
        # Absent (None) only in an event stored before the field existed.
        placed_at = getattr(event, "placed_at", None)
        if placed_at is not None:
            seconds = (timezone.now() - placed_at).total_seconds()
            ORDER_PLACED_TO_CONFIRMED_SECONDS.observe(max(seconds, 0.0))


def connect() -> None:
    """Connect the receiver (once per process, from ``OrdersConfig.ready()``)."""
    event_published.connect(count_order_event, dispatch_uid="orders.metrics.count_order_event")


# --- intake latency ------------------------------------------------------------------------
# A mutable mark rather than a value set later: a sync view under ASGI runs in a copy of
# the request's context, where setting a variable would not reach this middleware.
_request_marks: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "orderflow_intake_marks", default=None
)


def mark_order_placed() -> None:
    """Tell the current request's middleware (if any) that it placed an order."""
    marks = _request_marks.get()
    if marks is not None:
        marks.append(True)


class OrderIntakeMiddleware:
    """Observe ``orderflow_order_intake_seconds`` for each request that placed an order."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        marks: list = []
        token = _request_marks.set(marks)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            _request_marks.reset(token)
        if marks:
            ORDER_INTAKE_SECONDS.observe(time.perf_counter() - started)
        return response
