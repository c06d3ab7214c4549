"""Domain events: the envelope, the registry of declared types, and ``publish()``."""

from .base import Event, event_types, get_event_class
from .publish import event_published, publish

__all__ = ["Event", "event_published", "event_types", "get_event_class", "publish"]
