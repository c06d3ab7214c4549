"""Support's admin: lists with filters, and actions that call services."""

import pytest
from django.contrib.auth.models import User
from django.core import mail

from notifications import services
from notifications.choices import SendStatus
from notifications.models import EmailResend, Notification, WebhookDelivery, WebhookEndpoint
from testkit.factories import order_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("ana", "ana@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.fixture
def sent_email(shop, products, run_events, send_emails):
    order_for(shop)
    run_events()
    send_emails()
    return Notification.objects.get()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/notifications/notification/",
        "/admin/notifications/notification/?status__exact=sent&template=order.confirmed%2Fcustomer",
        "/admin/notifications/webhookendpoint/",
        "/admin/notifications/webhookendpoint/add/",
        "/admin/notifications/webhookdelivery/",
        "/admin/notifications/webhookdelivery/?status__exact=failed",
    ],
)
def test_pages_render(staff, sent_email, path):
    assert staff.get(path).status_code == 200


def test_the_ledger_row_shows_the_message(staff, sent_email):
    response = staff.get(f"/admin/notifications/notification/{sent_email.pk}/change/")

    assert response.status_code == 200
    assert sent_email.subject in response.content.decode()


def test_resend_action_sends_the_email_again(staff, sent_email, send_emails):
    response = staff.post(
        "/admin/notifications/notification/",
        {"action": "resend", "_selected_action": [sent_email.pk]},
    )

    assert response.status_code == 302
    send_emails()
    sent_email.refresh_from_db()
    assert (sent_email.status, sent_email.sent_count) == (SendStatus.SENT, 2)
    assert len(mail.outbox) == 2
    # who asked is recorded, as for a resend from the staff order page
    resend = EmailResend.objects.get(notification_id=sent_email.pk)
    assert resend.actor == "staff:ana"


def test_adding_an_endpoint_checks_the_url_and_shows_the_secret_once(staff, shop):
    refused = staff.post(
        "/admin/notifications/webhookendpoint/add/",
        {"shop_id": shop.pk, "url": "http://169.254.169.254/", "description": ""},
    )
    assert refused.status_code == 200
    assert "a cloud metadata address" in refused.content.decode()
    assert not WebhookEndpoint.objects.exists()

    response = staff.post(
        "/admin/notifications/webhookendpoint/add/",
        {
            "shop_id": shop.pk,
            "url": "https://93.184.215.14/in",
            "description": "ERP",
            "event_types": ["order.confirmed"],
            "active": "on",
        },
        follow=True,
    )

    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.shop_id, endpoint.event_types) == (shop.pk, ["order.confirmed"])
    assert endpoint.secret in response.content.decode()


def test_adding_an_endpoint_past_the_shops_limit_is_a_form_error(staff, shop, settings):
    # given a shop at its limit of one endpoint
    settings.WEBHOOK_MAX_ENDPOINTS_PER_SHOP = 1
    services.webhook_endpoint_create(shop_id=shop.pk, url="https://93.184.215.14/one")

    # when support adds another
    response = staff.post(
        "/admin/notifications/webhookendpoint/add/",
        {"shop_id": shop.pk, "url": "https://93.184.215.14/two", "description": ""},
    )

    # then the form says why and nothing is stored
    assert response.status_code == 200
    assert "A shop may have at most 1 webhook endpoints" in response.content.decode()
    assert list(WebhookEndpoint.objects.values_list("url", flat=True)) == [
        "https://93.184.215.14/one"
    ]


def test_delivery_page_shows_attempts_and_replay_action_requeues(
    staff, shop, products, receiver, endpoint_at, run_events, send_webhooks
):
    endpoint_at("/in", event_types=["order.placed"])
    order_for(shop)
    run_events()
    send_webhooks()
    delivery = WebhookDelivery.objects.get()

    page = staff.get(f"/admin/notifications/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert "answered 200" in page.content.decode()

    staff.post(
        "/admin/notifications/webhookdelivery/",
        {"action": "replay", "_selected_action": [delivery.pk]},
    )
    send_webhooks()
    assert len(receiver.received) == 2


def test_endpoint_actions_send_a_test_event_and_replay_since(
    staff, shop, products, receiver, endpoint_at, run_events, send_webhooks
):
    endpoint = endpoint_at("/in")
    staff.post(
        "/admin/notifications/webhookendpoint/",
        {"action": "send_test_event", "_selected_action": [endpoint.pk]},
    )
    send_webhooks()
    assert [r.json["type"] for r in receiver.received] == ["webhook.test"]

    form = staff.post(
        "/admin/notifications/webhookendpoint/",
        {"action": "replay_since", "_selected_action": [endpoint.pk]},
    )
    assert form.status_code == 200
    assert "Replay webhook deliveries" in form.content.decode()
    staff.post(
        "/admin/notifications/webhookendpoint/",
        {
            "action": "replay_since",
            "_selected_action": [endpoint.pk],
            "since": "2000-01-01 00:00",
        },
    )
    send_webhooks()
    assert [r.json["type"] for r in receiver.received] == ["webhook.test", "webhook.test"]
    assert services.TEST_EVENT_TYPE == "webhook.test"


def test_an_endpoint_is_never_deleted_from_the_admin(staff, shop):
    endpoint, _ = services.webhook_endpoint_create(shop_id=shop.pk, url="https://93.184.215.14/in")

    page = staff.get(f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/")
    delete = staff.post(
        f"/admin/notifications/webhookendpoint/{endpoint.pk}/delete/", {"post": "yes"}
    )
    bulk = staff.post(
        "/admin/notifications/webhookendpoint/",
        {"action": "delete_selected", "_selected_action": [endpoint.pk], "post": "yes"},
    )

    assert "deletelink" not in page.content.decode()
    assert delete.status_code == 403
    assert bulk.status_code in (200, 302)
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_revoking_a_secret_retires_the_old_one_at_once_and_shows_the_new(staff, shop):
    endpoint, leaked = services.webhook_endpoint_create(
        shop_id=shop.pk, url="https://93.184.215.14/in"
    )

    response = staff.post(
        "/admin/notifications/webhookendpoint/",
        {"action": "revoke_secret", "_selected_action": [endpoint.pk]},
        follow=True,
    )

    endpoint.refresh_from_db()
    assert endpoint.secret != leaked
    assert (endpoint.previous_secret, endpoint.previous_secret_expires_at) == ("", None)
    assert endpoint.signing_secrets(endpoint.updated_at) == [endpoint.secret]
    assert endpoint.secret in response.content.decode()
