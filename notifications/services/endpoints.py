"""A shop's webhook endpoints: register, change, rotate the secret, test, remove."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from orderflow.correlation import get_correlation_id
from orderflow.errors import FieldError, InputError
from orderflow.events import event_types
from orderflow.observability import tracing

from .. import inbox, ssrf, webhooks
from ..choices import SendStatus
from ..exceptions import EndpointInactive, EndpointLimitReached, UnsafeWebhookUrl
from ..models import WebhookDelivery, WebhookEndpoint
from .queues import WEBHOOKS

TEST_EVENT_TYPE = "webhook.test"
URL_MAX_LENGTH = 2000


def shop_event_types() -> list[str]:
    """The event types a shop can subscribe to: every declared type that belongs to a shop."""
    return sorted({cls.type for cls in event_types().values() if cls.tenant_field})


def webhook_url_validate(url: str) -> str:
    """Refuse a URL the server must not call (see ``ssrf``); return it normalised.

    Normalised here (IDNA host, percent-encoded path and query), so that what is stored
    is what the HTTP client can send: a stored non-ASCII URL made every attempt raise.
    """
    if len(url) > URL_MAX_LENGTH:
        raise _too_long()
    try:
        checked = ssrf.check_url(url, allow_private=_allow_private(url))
    except ssrf.UnsafeUrl as error:
        message = f"{error}{_private_hint(error)}"
        raise UnsafeWebhookUrl(
            f"The URL cannot be used for webhooks: {message}",
            errors=[FieldError("url", "unsafe_url", message)],
        ) from None
    if len(checked.url) > URL_MAX_LENGTH:
        raise _too_long()  # percent-encoding makes a URL up to nine times longer
    return checked.url


def _allow_private(url: str) -> bool:
    """Loopback and private addresses: allowed by WEBHOOK_ALLOW_PRIVATE, or for the inbox."""
    return settings.WEBHOOK_ALLOW_PRIVATE or inbox.is_inbox_url(ssrf.normalize_url(url))


def _private_hint(error: ssrf.UnsafeUrl) -> str:
    """How to try webhooks locally, when the refusal is for a loopback or private address.

    Only in words a developer running the app can act on: a deployment (inbox off) says
    nothing about settings to a shop.
    """
    if not settings.WEBHOOK_INBOX or not str(error).endswith(
        ("a loopback address.", "a private address.")
    ):
        return ""
    return (
        f" To try webhooks locally, register this app's webhook inbox, {inbox.inbox_url()}, "
        "or start the app with WEBHOOK_ALLOW_PRIVATE=true to allow loopback and private "
        "addresses (development only)."
    )


def _too_long() -> UnsafeWebhookUrl:
    return UnsafeWebhookUrl(
        "The URL is too long.",
        errors=[FieldError("url", "max_length", f"At most {URL_MAX_LENGTH} characters.")],
    )


def _event_types_validate(types: list[str]) -> list[str]:
    known = set(shop_event_types())
    unknown = [t for t in types if t not in known]
    if unknown:
        raise InputError(
            f"Unknown event type: {', '.join(unknown)}.",
            errors=[
                FieldError(
                    f"event_types.{types.index(t)}", "unknown_event_type", f"No event type {t!r}."
                )
                for t in unknown
            ],
        )
    return list(dict.fromkeys(types))


@transaction.atomic
def webhook_endpoint_create(
    *,
    shop_id: int,
    url: str,
    event_types: list[str] | None = None,
    description: str = "",
    active: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it and its secret, which is shown this once.

    A shop has at most WEBHOOK_MAX_ENDPOINTS_PER_SHOP endpoints: each one multiplies its
    events into deliveries that the shared senders spend time on.
    """
    url = webhook_url_validate(url)
    event_types = _event_types_validate(event_types or [])
    _lock_shop_endpoints(shop_id)
    webhook_endpoint_room_check(shop_id=shop_id)
    endpoint = WebhookEndpoint.objects.create(
        shop_id=shop_id,
        url=url,
        event_types=event_types,
        description=description,
        active=active,
        secret=webhooks.new_secret(),
    )
    return endpoint, endpoint.secret


def webhook_endpoint_room_check(*, shop_id: int) -> None:
    """Refuse (EndpointLimitReached) when the shop has WEBHOOK_MAX_ENDPOINTS_PER_SHOP already.

    Forms call it to show the refusal as a form error; registration calls it again under
    the shop's lock, which is what makes the limit exact.
    """
    limit = settings.WEBHOOK_MAX_ENDPOINTS_PER_SHOP
    if WebhookEndpoint.objects.filter(shop_id=shop_id).count() >= limit:
        raise EndpointLimitReached(
            f"A shop may have at most {limit} webhook endpoints; delete one to add another.",
            extra={"limit": limit},
        )


def _lock_shop_endpoints(shop_id: int) -> None:
    """Serialise the shop's registrations until commit, so two cannot both pass the count.

    SQLite (embedded mode) serialises writers itself.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"notifications.webhook-endpoints\x1f{shop_id}"],
        )


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Change what was given; enabling an endpoint clears its failure record."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if url is not None:
        endpoint.url = webhook_url_validate(url)
    if event_types is not None:
        endpoint.event_types = _event_types_validate(event_types)
    if description is not None:
        endpoint.description = description
    if active is not None and active != endpoint.active:
        endpoint.active = active
        if active:
            endpoint.failing_since = None
            endpoint.disabled_at = None
            endpoint.disabled_reason = ""
        else:
            endpoint.failing_since = None  # only OrderFlow's disabling is for failures
            endpoint.disabled_at = timezone.now()
            endpoint.disabled_reason = "Deactivated by the shop."
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove the endpoint with its deliveries and their log."""
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, keep_previous_for: timedelta | None = None
) -> tuple[WebhookEndpoint, str]:
    """Give the endpoint a new secret; sign with both until the previous one expires.

    ``keep_previous_for`` (WEBHOOK_SECRET_OVERLAP_HOURS by default) gives the receiver
    time to switch; zero retires the previous secret at once, as after a leak.
    """
    if keep_previous_for is None:
        keep_previous_for = timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    now = timezone.now()
    keep = keep_previous_for > timedelta(0)
    endpoint.previous_secret = endpoint.secret if keep else ""
    endpoint.previous_secret_expires_at = now + keep_previous_for if keep else None
    endpoint.secret = webhooks.new_secret()
    endpoint.save()
    return endpoint, endpoint.secret


@transaction.atomic
def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for the endpoint, signed and logged like any other."""
    if not endpoint.active:
        raise EndpointInactive("Enable the endpoint before sending it a test event.")
    now = timezone.now()
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event_id,
        event_type=TEST_EVENT_TYPE,
        payload={
            "event_id": str(event_id),
            "type": TEST_EVENT_TYPE,
            "version": 1,
            "occurred_at": now.isoformat(),
            "aggregate": "webhook_endpoint",
            "aggregate_id": str(endpoint.pk),
            "sequence": 0,
            "correlation_id": get_correlation_id() or "",
            "causation_id": "",
            "data": {
                "endpoint_id": str(endpoint.pk),
                "shop_id": endpoint.shop_id,
                "message": "A test event from OrderFlow: your endpoint is reachable.",
            },
        },
        status=SendStatus.QUEUED,
        next_attempt_at=now,
        trace_context=tracing.current_trace_context(),
    )
    WEBHOOKS.kick.after_commit()
    return delivery
