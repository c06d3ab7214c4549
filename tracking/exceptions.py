"""Errors of the tracking context (its staff pages show them as messages)."""

from orderflow.errors import DomainError, InputError


class TrackingError(DomainError):
    code = "tracking-error"


class InvalidNote(InputError):
    """A note that is empty, too long, or holds characters no text column takes."""

    code = "invalid-note"


class OrderNotFound(TrackingError):
    status = 404
    code = "order-not-found"
    title = "No such order"
