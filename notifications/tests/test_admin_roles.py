"""Replaying webhook deliveries from the admin needs the staff supervisor's permission."""

import pytest
from django.contrib.auth.models import Group, Permission, User

from notifications.models import WebhookDelivery
from testkit.factories import order_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(shop, products, receiver, endpoint_at, run_events, send_webhooks):
    endpoint_at("/in", event_types=["order.placed"])
    order_for(shop)
    run_events()
    send_webhooks()
    return WebhookDelivery.objects.get()


def _support(client, role: str) -> User:
    user = User.objects.create_user("sam", password="x-long-1", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_webhookdelivery", "view_webhookendpoint"])
    )
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


@pytest.mark.parametrize(
    ("path", "action", "row"),
    [
        ("webhookdelivery", "replay", lambda delivery: delivery.pk),
        ("webhookendpoint", "replay_since", lambda delivery: delivery.endpoint_id),
    ],
)
def test_an_operator_is_not_offered_a_replay_and_nothing_is_sent_again(
    client, delivered, receiver, send_webhooks, path, action, row
):
    _support(client, "operator")
    before = WebhookDelivery.objects.values_list("status", "attempts", "replayed_at").get()

    page = client.get(f"/admin/notifications/{path}/").content.decode()
    client.post(
        f"/admin/notifications/{path}/",
        {"action": action, "_selected_action": [row(delivered)], "since": "2000-01-01 00:00"},
    )
    send_webhooks()

    assert f'value="{action}"' not in page
    assert WebhookDelivery.objects.values_list("status", "attempts", "replayed_at").get() == before
    assert len(receiver.received) == 1


def test_a_supervisor_replays_a_delivery(client, delivered, receiver, send_webhooks):
    _support(client, "supervisor")

    client.post(
        "/admin/notifications/webhookdelivery/",
        {"action": "replay", "_selected_action": [delivered.pk]},
    )
    send_webhooks()

    assert len(receiver.received) == 2


@pytest.mark.parametrize("action", ["rotate_secret", "revoke_secret", "send_test_event"])
def test_a_user_who_may_only_view_endpoints_cannot_touch_their_secret(client, delivered, action):
    _support(client, "supervisor")  # the staff pages' top role; the admin's rows: view only
    endpoint = delivered.endpoint
    secret = endpoint.secret

    listing = client.get("/admin/notifications/webhookendpoint/")
    response = client.post(
        "/admin/notifications/webhookendpoint/",
        {"action": action, "_selected_action": [endpoint.pk]},
    )

    assert action not in listing.content.decode()
    assert response.status_code in (200, 302)
    endpoint.refresh_from_db()
    assert endpoint.secret == secret
    assert WebhookDelivery.objects.filter(event_type="webhook.test").count() == 0


def test_resending_an_e_mail_needs_the_resend_role(client, shop, products, run_events):
    order_for(shop)
    run_events()
    user = User.objects.create_user("vic", password="x-long-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename="view_notification"))
    user.groups.add(Group.objects.get(name="viewer"))
    client.force_login(user)

    listing = client.get("/admin/notifications/notification/")

    assert listing.status_code == 200
    assert 'value="resend"' not in listing.content.decode()
    user.groups.add(Group.objects.get(name="operator"))
    assert 'value="resend"' in client.get("/admin/notifications/notification/").content.decode()
