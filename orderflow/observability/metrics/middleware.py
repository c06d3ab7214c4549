"""Intake latency: how long a request that placed an order took, arrival to response.

The middleware does not know which views place orders: the ``order.placed`` event does.
Its commit marks the request (see :mod:`orderflow.metrics.receivers`), and the middleware
observes only marked requests — through the API, a staff page or any future channel.
"""

import contextvars
import time

from . import ORDER_INTAKE_SECONDS

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
