"""A shop's webhook for a new order hands the shop its own reference and metadata back."""

import pytest

from testkit.factories import order_for

pytestmark = pytest.mark.django_db


def test_the_order_placed_webhook_carries_the_shops_reference_and_metadata(
    shop, products, receiver, endpoint_at, run_events, send_webhooks
):
    endpoint_at("/hooks", event_types=["order.placed"])
    order = order_for(shop, external_reference="chk_8812", metadata={"channel": "web"})

    run_events()
    send_webhooks()

    (received,) = receiver.at("/hooks")
    assert received.verified, received.verify_error
    body = received.json
    assert (body["type"], body["data"]["order_id"]) == ("order.placed", str(order.pk))
    assert (body["data"]["external_reference"], body["data"]["metadata"]) == (
        "chk_8812",
        {"channel": "web"},
    )
