"""``@subscriber``: how a context declares that it reacts to an event type.

Declared in each context's ``handlers.py`` and registered when its ``AppConfig.ready()``
imports that module. The registry is the one readable table of who reacts to what
(``manage.py events`` prints it).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps

from .base import Event


class SubscriberDeclarationError(TypeError):
    pass


@dataclass(frozen=True)
class Envelope:
    """What a handler knows about the event beyond its data."""

    event_id: str
    type: str
    version: int
    aggregate: str
    aggregate_id: str
    sequence: int
    tenant_id: str
    correlation_id: str
    causation_id: str
    occurred_at: datetime
    attempt: int


Handler = Callable[[Any, Envelope], None]


@dataclass(frozen=True)
class Subscriber:
    name: str
    event_type: str
    handler: Handler
    #: run this subscriber's deliveries of one aggregate strictly in sequence order
    ordered: bool = False
    #: overrides EVENTS_MAX_ATTEMPTS for this subscriber
    max_attempts: int | None = None

    @property
    def context(self) -> str:
        return self.name.split(".", 1)[0]


_subscribers: dict[str, Subscriber] = {}


def subscriber(
    event_type: str | type[Event],
    *,
    name: str | None = None,
    ordered: bool = False,
    max_attempts: int | None = None,
) -> Callable[[Handler], Handler]:
    """Register the decorated function as a subscriber to ``event_type``.

    The subscriber's name (``<app label>.<function>`` unless given) is stored in every
    delivery and inbox row, so it must stay stable once events have been delivered.
    """
    type_name = event_type if isinstance(event_type, str) else event_type.type

    def register(handler: Handler) -> Handler:
        app = apps.get_containing_app_config(handler.__module__)
        context = app.label if app else handler.__module__.split(".", 1)[0]
        full_name = name or f"{context}.{handler.__name__}"
        existing = _subscribers.get(full_name)
        if existing is not None and existing.handler.__qualname__ != handler.__qualname__:
            raise SubscriberDeclarationError(f"Subscriber {full_name!r} is declared twice.")
        _subscribers[full_name] = Subscriber(
            name=full_name,
            event_type=type_name,
            handler=handler,
            ordered=ordered,
            max_attempts=max_attempts,
        )
        return handler

    return register


def subscribers_for(event_type: str) -> list[Subscriber]:
    return [s for s in _subscribers.values() if s.event_type == event_type]


def get_subscriber(name: str) -> Subscriber | None:
    return _subscribers.get(name)


def all_subscribers() -> list[Subscriber]:
    return sorted(_subscribers.values(), key=lambda s: (s.event_type, s.name))
