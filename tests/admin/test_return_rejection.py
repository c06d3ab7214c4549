"""Support rejects a return in the admin with the reason typed: everyone downstream reads it.

The admin action runs the returns service, so its ``return.rejected`` reaches the order's
timeline, the customer's e-mail and tracking page as a rejection from the staff order page
does (``orders/tests/test_admin_returns.py`` checks the action itself).
"""

import pytest
from django.core import mail
from django.urls import reverse

from notifications.services import email_notifications_send_due
from orderflow.events import pump
from orders import services
from orders.models import Return
from orders.services import returns
from testkit.factories import ProductFactory, ShopFactory, order_for
from tracking.models import TrackingEntry

pytestmark = pytest.mark.django_db

STAFF = services.Actor(kind="staff", name="ana")
REASON = "The mug was used; we cannot take it back."


@pytest.fixture
def requested_return():
    shop = ShopFactory(name="Café Azul")
    ProductFactory(shop=shop, sku="MUG", name="Blue mug", price="9.90", on_hand=20)
    order = order_for(shop, lines={"MUG": 1}, email="ana@example.com")
    pump.drain(max_seconds=60)
    services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number="JD0001"
    )
    order_return = returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("MUG", 1)],
        reason="Arrived chipped.",
        actor=STAFF,
    )
    pump.drain(max_seconds=60)
    while email_notifications_send_due().handled:
        pass
    mail.outbox.clear()
    return order_return


def test_the_reason_support_types_is_on_the_timeline_and_in_the_customers_e_mail(
    admin_client, requested_return
):
    admin_client.post(
        "/admin/orders/return/",
        {
            "action": "reject_returns",
            "_selected_action": [requested_return.pk],
            "reason": REASON,
        },
    )
    pump.drain(max_seconds=60)
    while email_notifications_send_due().handled:
        pass

    assert Return.objects.get(pk=requested_return.pk).status == "rejected"
    [entry] = TrackingEntry.objects.filter(
        order__order_id=requested_return.order_id, event_type="return.rejected"
    )
    assert REASON in entry.note
    assert entry.actor == "staff:admin"
    [message] = [m for m in mail.outbox if "not accepted" in m.subject.lower()]
    assert message.to == ["ana@example.com"]
    assert f"The reason given: {REASON}" in message.body
    assert "could not accept this return; reply to this e-mail" not in message.body
    order = requested_return.order
    page = admin_client.get(reverse("tracking:public", args=[order.tracking_token]))
    assert "could not accept your return" in page.content.decode()
