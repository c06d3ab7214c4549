"""Notifications test fixtures: a shop, real receivers, the event machinery in-process."""

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from django.db import transaction

from notifications import services
from notifications.services.projection import Projected, notifications_project
from orderflow.events.projectors import FeedEvent
from orderflow.events.pump import drain
from orderflow.models import OutboxEvent
from testkit.factories import ProductFactory, ShopFactory

from .receiver import Canary, WebhookReceiver


@pytest.fixture
def shop(db):
    return ShopFactory(name="Loja Café Azul", contact_email="ops@cafe-azul.example")


@pytest.fixture
def products(shop):
    return {
        "COFFEE-1KG": ProductFactory(
            shop=shop, sku="COFFEE-1KG", name="Coffee beans 1 kg", price="24.90", on_hand=50
        ),
        "MUG": ProductFactory(shop=shop, sku="MUG", name="Blue mug", price="9.90", on_hand=1),
    }


@pytest.fixture
def allow_private(settings):
    """The receivers listen on loopback: let webhooks reach it, as WEBHOOK_ALLOW_PRIVATE does."""
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def canary() -> Iterator[Canary]:
    listener = Canary()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
def endpoint_at(shop, receiver, allow_private) -> Callable:
    """Register an endpoint of ``shop`` at a path of the receiver, which learns its secret."""

    def make(path: str = "/hooks", **options):
        endpoint, secret = services.webhook_endpoint_create(
            shop_id=shop.pk, url=receiver.url + path, **options
        )
        receiver.secrets[path] = secret
        return endpoint

    return make


@pytest.fixture
def run_events() -> Callable[[], None]:
    """Relay and run every due event delivery in this process (the kernel's worker loop)."""

    def run() -> None:
        drain(max_seconds=30)

    return run


@pytest.fixture
def reapply_feed() -> Callable[[], Projected]:
    """Apply every event of the feed to the notifications projection again, as one batch."""

    def run() -> Projected:
        events = [
            FeedEvent.from_row(row)
            for row in OutboxEvent.objects.exclude(position=None).order_by("position")
        ]
        with transaction.atomic():
            return notifications_project(events=events)

    return run


@pytest.fixture
def send_webhooks() -> Callable[..., services.SendResult]:
    """Send due webhook deliveries until none is due at ``now``."""

    def run(now: datetime | None = None) -> services.SendResult:
        total = services.SendResult()
        while (batch := services.webhook_deliveries_send_due(now=now)).handled:
            total += batch
        return total

    return run


@pytest.fixture
def send_emails() -> Callable[..., services.SendResult]:
    def run(now: datetime | None = None) -> services.SendResult:
        total = services.SendResult()
        while (batch := services.email_notifications_send_due(now=now)).handled:
            total += batch
        return total

    return run
