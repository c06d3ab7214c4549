"""``@subscriber``: how a context declares that it reacts to an event type.

Declared in each context's ``handlers.py`` and registered when its ``AppConfig.ready()``
imports that module. The registry is the one readable table of who reacts to what
(``manage.py events`` prints it).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, Self

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

    @classmethod
    def from_row(cls, row: Any, *, attempt: int = 1, **more: Any) -> Self:
        """The envelope of the event stored in ``row`` (an ``OutboxEvent``); ``more`` fills
        a subclass's own fields."""
        return cls(
            event_id=str(row.event_id),
            type=row.type,
            version=row.version,
            aggregate=row.aggregate,
            aggregate_id=row.aggregate_id,
            sequence=row.sequence,
            tenant_id=row.tenant_id,
            correlation_id=row.correlation_id,
            causation_id=row.causation_id,
            occurred_at=row.occurred_at,
            attempt=attempt,
            **more,
        )


Handler = Callable[[Any, Envelope], None]


class Priority(IntEnum):
    """Claim order between subscribers: higher first, then oldest due first."""

    NORMAL = 0
    HIGH = 10


@dataclass(frozen=True)
class Subscriber:
    name: str
    event_type: str
    handler: Handler
    #: run this subscriber's deliveries of one aggregate strictly in sequence order
    ordered: bool = False
    #: overrides EVENTS_MAX_ATTEMPTS for this subscriber
    max_attempts: int | None = None
    #: claimed before every due delivery of a lower priority (see ``Priority``)
    priority: int = 0
    #: False: the effect commits without waiting for its WAL flush (see ``subscriber``)
    synchronous_commit: bool = True

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
    priority: int = 0,
    synchronous_commit: bool = True,
) -> Callable[[Handler], Handler]:
    """Register the decorated function as a subscriber to ``event_type``.

    The subscriber's name (``<app label>.<function>`` unless given) is stored in every
    delivery and inbox row, so it must stay stable once events have been delivered.

    ``priority`` (``Priority.HIGH`` for a business process's next step) makes workers
    claim this subscriber's due deliveries before others, so a long backlog of
    projections does not delay it. ``synchronous_commit=False`` lets the handler's
    transaction commit without waiting for the disk: only for handlers whose effect is a
    projection that publishes no event and tells no one outside before it commits. If
    PostgreSQL crashes before the flush, the transaction is lost whole — inbox entry
    included — and the delivery, whose done-mark comes later in the log, runs again when
    its lease ends.
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
            priority=priority,
            synchronous_commit=synchronous_commit,
        )
        return handler

    return register


def subscribers_for(event_type: str) -> list[Subscriber]:
    return [s for s in _subscribers.values() if s.event_type == event_type]


def get_subscriber(name: str) -> Subscriber | None:
    return _subscribers.get(name)


def all_subscribers() -> list[Subscriber]:
    return sorted(_subscribers.values(), key=lambda s: (s.event_type, s.name))
