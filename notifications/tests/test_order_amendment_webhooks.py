"""A staff correction of an order reaches the shop's webhooks like any other order event."""

import pytest

from notifications.models import WebhookDelivery
from orders import services as orders_services
from testkit.factories import order_for

pytestmark = pytest.mark.django_db

STAFF = orders_services.Actor(kind="staff", name="ana")


def test_address_and_customer_changes_are_queued_for_the_shops_endpoint(
    shop, products, endpoint_at, run_events
):
    endpoint = endpoint_at(
        "/hooks", event_types=["order.shipping_address_changed", "order.customer_changed"]
    )
    order = order_for(shop)

    orders_services.order_change_shipping_address(
        order_id=order.pk,
        shop=shop,
        actor=STAFF,
        shipping_address={
            "line1": "Rua Nova 5",
            "city": "Lisboa",
            "postal_code": "1000-001",
            "country": "PT",
        },
    )
    orders_services.order_change_customer(
        order_id=order.pk, shop=shop, actor=STAFF, name="Ana Lima", email="lima@example.com"
    )
    run_events()

    deliveries = sorted(
        WebhookDelivery.objects.filter(endpoint=endpoint), key=lambda d: d.payload["sequence"]
    )
    assert [(d.event_type, d.payload["data"]["changed_by"]) for d in deliveries] == [
        ("order.shipping_address_changed", "staff:ana"),
        ("order.customer_changed", "staff:ana"),
    ]
    assert deliveries[0].payload["data"]["shipping_address"]["city"] == "Lisboa"
    assert deliveries[1].payload["data"]["customer_email"] == "lima@example.com"
