"""Failures a handler or projector can raise, and the ones no retry can fix."""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from pydantic import ValidationError as PydanticValidationError

from .base import UnknownEventType


class PermanentError(Exception):
    """Raise from a handler for a failure that no retry can fix: dead-letter at once."""


# The name tracebacks, span attributes and stored dead letters have always shown.
PermanentError.__module__ = "orderflow.events.relay"

#: Failures that will fail the same way every time, so retrying only delays the alarm.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    PermanentError,
    UnknownEventType,
    PydanticValidationError,
    DjangoValidationError,
    ObjectDoesNotExist,
)
