"""Errors of the notifications context; the API renders them as problem documents."""

from orderflow.errors import DomainError, InputError


class NotificationError(DomainError):
    code = "notification-error"


class UnsafeWebhookUrl(InputError):
    """The URL is not http(s) or points at an address the server must never call."""


class EndpointInactive(NotificationError):
    status = 409
    code = "webhook-endpoint-inactive"
    title = "The webhook endpoint is not active"


class EndpointLimitReached(NotificationError):
    status = 409
    code = "webhook-endpoint-limit"
    title = "The shop has as many webhook endpoints as it may"


class EmailNotFound(NotificationError):
    status = 404
    code = "email-not-found"
    title = "The order has no such customer e-mail"


class EmailBeingSent(NotificationError):
    status = 409
    code = "email-being-sent"
    title = "The e-mail is waiting to be sent already"
