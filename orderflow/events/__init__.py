"""Domain events: declared types, ``publish()``, subscribers and the delivery machinery."""

from .base import Event, event_types, get_event_class
from .publish import event_published, publish
from .relay import PermanentError
from .subscribers import Envelope, Priority, subscriber

__all__ = [
    "Envelope",
    "Event",
    "PermanentError",
    "Priority",
    "event_published",
    "event_types",
    "get_event_class",
    "publish",
    "subscriber",
]
