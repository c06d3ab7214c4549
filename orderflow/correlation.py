"""Correlation ids: read from ``X-Correlation-ID`` (or made), echoed, logged, carried in events."""

import contextvars
import logging
import re
import uuid

HEADER = "X-Correlation-ID"
_META_KEY = "HTTP_X_CORRELATION_ID"
# Accept what a caller's tracing tool is likely to send, but never let a header smuggle
# control characters or an unbounded string into logs and events.
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    return _current.get()


def set_correlation_id(value: str | None) -> contextvars.Token:
    return _current.set(value)


def reset_correlation_id(token: contextvars.Token) -> None:
    _current.reset(token)


class CorrelationIdMiddleware:
    """Bind the request's correlation id for its whole duration and return it on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.META.get(_META_KEY, "")
        correlation_id = supplied if _VALID.match(supplied) else new_correlation_id()
        request.correlation_id = correlation_id
        token = set_correlation_id(correlation_id)
        try:
            response = self.get_response(request)
        finally:
            reset_correlation_id(token)
        response[HEADER] = correlation_id
        return response


class CorrelationIdLogFilter(logging.Filter):
    """Put the current correlation id on every log record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = get_correlation_id() or "-"
        return True
