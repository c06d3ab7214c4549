"""Staff actions on an order (the orders context's views, reached from the order page)."""

import uuid
from decimal import Decimal

import pytest
from django.test import Client

from orderflow.models import OutboxEvent
from orders.models import Order, OrderTransition


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_an_action_asks_for_confirmation_first(staff_client, place, settle):
    order = place()
    settle()

    response = staff_client.get(f"/staff/orders/{order.id}/ship")

    assert response.status_code == 200
    assert b"Confirm shipment" in response.content
    assert Order.objects.get(pk=order.id).status == "confirmed"


def test_ship_goes_through_the_orders_service_as_staff(staff_client, place, settle):
    order = place()
    settle()

    response = staff_client.post(
        f"/staff/orders/{order.id}/ship",
        {"carrier": "demo-post", "tracking_number": "DP-4242"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == f"/staff/orders/{order.id}"
    assert _messages(response) == ["Shipped with demo-post, tracking number DP-4242."]
    order.refresh_from_db()
    assert (order.status, order.carrier, order.tracking_number) == (
        "shipped",
        "demo-post",
        "DP-4242",
    )
    assert OrderTransition.objects.filter(order=order).last().actor == "staff:ana"
    assert OutboxEvent.objects.filter(
        aggregate_id=str(order.id), type="shipment.dispatched"
    ).exists()


def test_a_bad_tracking_number_is_a_field_error_and_changes_nothing(staff_client, place, settle):
    order = place()
    settle()

    response = staff_client.post(
        f"/staff/orders/{order.id}/ship", {"carrier": "demo-post", "tracking_number": "x"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "tracking_number": ["Use 4 to 64 letters, digits or dashes."]
    }
    assert Order.objects.get(pk=order.id).status == "confirmed"


@pytest.mark.parametrize("action", ["out-for-delivery", "deliver", "ship"])
def test_an_illegal_action_is_a_message_never_an_error_page(staff_client, place, action):
    order = place()  # placed: none of these is allowed

    response = staff_client.post(
        f"/staff/orders/{order.id}/{action}",
        {"carrier": "demo-post", "tracking_number": "DP-1111"},
        follow=True,
    )

    assert response.status_code == 200
    [message] = _messages(response)
    assert message.startswith("Not done: The order is placed; it cannot become")
    assert Order.objects.get(pk=order.id).status == "placed"


def test_cancel_of_a_paid_order_refunds_it(staff_client, place, settle):
    order = place()
    settle()

    response = staff_client.post(
        f"/staff/orders/{order.id}/cancel", {"reason": "customer asked"}, follow=True
    )
    settle()

    assert _messages(response) == ["Cancelled; a captured payment is being refunded."]
    assert Order.objects.get(pk=order.id).status == "cancelled"
    types = set(
        OutboxEvent.objects.filter(tenant_id=str(order.shop_id)).values_list("type", flat=True)
    )
    assert {"order.cancelled", "payment.refunded"} <= types


def test_actions_need_csrf(place, settle, staff_user):
    order = place()
    settle()
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)

    response = client.post(f"/staff/orders/{order.id}/cancel", {"reason": ""})

    assert response.status_code == 403
    assert Order.objects.get(pk=order.id).status == "confirmed"


def _new_order(shop, **overrides):
    data = {
        "form_key": str(uuid.uuid4()),
        "shop": shop.id,
        "customer_name": "Ana Souza",
        "customer_email": "ana@example.com",
        "line1": "Rua A 1",
        "postal_code": "01000-000",
        "city": "São Paulo",
        "country": "BR",
        "payment_token": "tok_ok",
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "1",
        "lines-MAX_NUM_FORMS": "100",
        "lines-0-sku": "COFFEE-1KG",
        "lines-0-quantity": "2",
        "lines-1-quantity": "1",
        "lines-2-quantity": "1",
    }
    data.update(overrides)
    return data


def test_new_order_on_behalf_of_a_shop(staff_client, shop, products):
    response = staff_client.post("/staff/orders/new", _new_order(shop), follow=True)

    order = Order.objects.get()
    assert response.redirect_chain[-1][0] == f"/staff/orders/{order.id}"
    assert (order.shop, order.total, order.customer_email) == (
        shop,
        Decimal("49.80"),
        "ana@example.com",
    )


def test_new_order_shows_field_level_errors_and_writes_nothing(staff_client, shop, products):
    response = staff_client.post(
        "/staff/orders/new",
        _new_order(
            shop,
            customer_email="not-an-email",
            country="Brazil",
            **{"lines-1-sku": "NOPE", "lines-1-quantity": "1"},
        ),
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "customer_email": ["Enter a valid email address."],
        "country": [
            "Ensure this field has no more than 2 characters.",
            "Use an ISO 3166 code, e.g. BR.",
        ],
    }
    assert not Order.objects.exists()


def test_new_order_puts_an_unknown_sku_on_its_line(staff_client, shop, products):
    response = staff_client.post(
        "/staff/orders/new", _new_order(shop, **{"lines-1-sku": "NOPE", "lines-1-quantity": "1"})
    )

    assert response.status_code == 200
    lines = response.context["lines"]
    assert lines.forms[1].errors == {
        "sku": ["Unknown SKU 'NOPE': it is not in this shop's catalog."]
    }
    assert not Order.objects.exists()
