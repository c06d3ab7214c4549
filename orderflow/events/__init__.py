"""Domain events: declared types, ``publish()``, subscribers and the delivery machinery."""

from .base import Event, event_types, get_event_class
from .errors import PermanentError
from .projectors import FeedEvent, projector
from .publish import event_published, publish
from .subscribers import Envelope, Priority, subscriber

__all__ = [
    "Envelope",
    "Event",
    "FeedEvent",
    "PermanentError",
    "Priority",
    "event_published",
    "event_types",
    "get_event_class",
    "projector",
    "publish",
    "subscriber",
]
