"""Orders that went the whole way, for the admin's tests: every support row an order makes.

Placed through the intake service, taken through the saga and the projectors in this
process, shipped by staff, reported on by the carrier, and sent to a shop's webhook
endpoint (which refuses: the attempts are logged too).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.utils import timezone

from notifications.models import WebhookEndpoint
from notifications.services import webhook_deliveries_drain
from orderflow.events import pump
from orderflow.models import Delivery, DeliveryStatus, OutboxEvent, ParkedEvent
from orders import services
from orders.models import Order, ShopAPIKey
from orders.services.shipments import shipment_report
from testkit.factories import ProductFactory, ShopFactory, order_for

STAFF = services.Actor(kind="staff", name="ana")


@dataclass
class Made:
    shop: object
    orders: list[Order]


def _endpoint_for(shop) -> WebhookEndpoint:
    # Stored as the service would store it; the sender's guard refuses loopback at every
    # connection, so each delivery fails fast and logs an attempt.
    endpoint, _ = WebhookEndpoint.objects.get_or_create(
        shop_id=shop.pk,
        url="http://127.0.0.1:9/hooks/orders",
        defaults={"secret": "whsec_" + "a" * 32, "event_types": []},
    )
    return endpoint


def make_orders(shop, count: int, *, email: str | None = None) -> list[Order]:
    """Take ``count`` new orders of ``shop`` all the way; return them as they end."""
    _endpoint_for(shop)
    placed = [
        order_for(shop, email=email or f"buyer{uuid.uuid4().hex[:8]}@example.com")
        for _ in range(count)
    ]
    pump.drain(max_seconds=120)  # reserved, paid, confirmed, invoiced; tracking, ledger
    for order in placed:
        tracking_number = f"JD{order.number.removeprefix('OF-')}"
        services.order_ship(
            order_id=order.pk,
            shop=None,
            actor=STAFF,
            carrier="DHL",
            tracking_number=tracking_number,
        )
        shipment_report(
            carrier="DHL",
            event_id=f"dhl-{order.number}",
            tracking_number=tracking_number,
            status="in_transit",
            location="Curitiba",
        )
    pump.drain(max_seconds=120)
    webhook_deliveries_drain(max_seconds=30)
    # one failed event handling and one parked event per batch, as support meets them
    delivery = Delivery.objects.filter(event__data__order_id=str(placed[0].pk)).first()
    if delivery is not None:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.DEAD, dead_at=timezone.now(), last_error="boom"
        )
    event = OutboxEvent.objects.filter(data__order_id=str(placed[-1].pk)).first()
    ParkedEvent.objects.create(
        projector="tracking",
        event=event,
        position=event.position or 0,
        error="boom",
        attempts=3,
        parked_at=timezone.now(),
    )
    ShopAPIKey.objects.create_key(shop=shop, name=f"key {uuid.uuid4().hex[:6]}")
    return [Order.objects.get(pk=order.pk) for order in placed]


@pytest.fixture
def shop_with_products(db) -> Callable:
    def make(**fields):
        shop = ShopFactory(**fields)
        for sku, price in (("COFFEE-1KG", "24.90"), ("MUG", "9.90")):
            ProductFactory(shop=shop, sku=sku, price=price, on_hand=10_000)
        return shop

    return make


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client
