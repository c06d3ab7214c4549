"""Read queries for the API and admin: a shop sees only its own endpoints and deliveries."""

from uuid import UUID

from django.db.models import QuerySet

from .models import WebhookDelivery, WebhookEndpoint


def webhook_endpoint_list_for_shop(*, shop_id: int) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(shop_id=shop_id)


def webhook_endpoint_get_for_shop(*, shop_id: int, endpoint_id: UUID) -> WebhookEndpoint:
    """The shop's endpoint (raises WebhookEndpoint.DoesNotExist, also for another shop's)."""
    return WebhookEndpoint.objects.get(shop_id=shop_id, pk=endpoint_id)


def webhook_delivery_list_for_endpoint(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).defer("payload")


def webhook_delivery_get_for_shop(*, shop_id: int, delivery_id: UUID) -> WebhookDelivery:
    """The shop's delivery with its endpoint and attempt log (raises DoesNotExist)."""
    return (
        WebhookDelivery.objects.select_related("endpoint")
        .prefetch_related("log")
        .get(endpoint__shop_id=shop_id, pk=delivery_id)
    )


def webhook_endpoint_secrets_at_url(*, url: str) -> list[tuple[str, int, str]]:
    """(endpoint id, shop id, secret) of every endpoint registered at ``url`` (the inbox's)."""
    return [
        (str(endpoint_id), shop_id, secret)
        for endpoint_id, shop_id, secret in WebhookEndpoint.objects.filter(url=url)
        .order_by("created_at")
        .values_list("pk", "shop_id", "secret")
    ]
