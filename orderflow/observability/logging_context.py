"""What a log line knows about the work at hand: ``order_id``, ``shop_id`` and the like.

A *scope* is opened per request (:class:`LogContextMiddleware`) and per delivery (the
relay), and anything bound in it is added to every log line written inside it. Outside a
scope, binding does nothing, so nothing can leak from one request into the next one that
the same thread serves.
"""

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# The scope is a mutable dict so that a value bound inside a sync view run by asgiref
# (in a copy of the request's context) is seen by the rest of the request too.
_scope: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "orderflow_log_context", default=None
)


@contextmanager
def log_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Open a scope holding ``fields`` (and the enclosing scope's) for its duration."""
    token = _scope.set({**(_scope.get() or {}), **_present(fields)})
    try:
        yield _scope.get()
    finally:
        _scope.reset(token)


def bind_log_context(**fields: Any) -> None:
    """Add ``fields`` to the current scope; empty values and calls outside a scope are ignored."""
    scope = _scope.get()
    if scope is not None:
        scope.update(_present(fields))


def current_log_context() -> dict[str, Any]:
    return dict(_scope.get() or {})


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: str(value) for key, value in fields.items() if value not in (None, "")}


def bind_published_event(sender, event, **kwargs) -> None:
    """Receiver of ``event_published``: the request or handler now knows its order and shop.

    Read from the event itself, not its stored row: nothing per event beyond two attributes.
    """
    scope = _scope.get()
    if scope is None:
        return
    fields = {"order_id": getattr(event, "order_id", None), "shop_id": event.tenant_id}
    # what the scope already knows wins: a handler stays about the order it handles
    bind_log_context(**{k: v for k, v in fields.items() if k not in scope})


class LogContextMiddleware:
    """Open a log scope for each request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with log_context():
            return self.get_response(request)
