"""The event being handled in this thread, so that what a handler publishes is caused by it."""

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from orderflow.correlation import reset_correlation_id, set_correlation_id

_causation: contextvars.ContextVar[str] = contextvars.ContextVar("causation_id", default="")


def current_causation_id() -> str:
    return _causation.get()


@contextmanager
def handling(*, event_id: str, correlation_id: str) -> Iterator[None]:
    """Carry the handled event's correlation id, and its id as the cause, into publish()."""
    causation_token = _causation.set(event_id)
    correlation_token = set_correlation_id(correlation_id or None)
    try:
        yield
    finally:
        reset_correlation_id(correlation_token)
        _causation.reset(causation_token)
