"""The Celery entry points and the embedded worker command, run in this process."""

import pytest
from django.core import mail
from django.core.management import call_command

from notifications import tasks
from notifications.choices import SendStatus
from notifications.management.commands import notifications_worker
from notifications.models import Notification, WebhookDelivery
from testkit.factories import order_for

pytestmark = pytest.mark.django_db


def test_the_sender_tasks_send_what_is_due(shop, products, receiver, endpoint_at, run_events):
    endpoint_at("/in", event_types=["order.confirmed"])
    order_for(shop)
    run_events()

    webhooks = tasks.webhook_deliver_task.apply().get()
    emails = tasks.email_send_task.apply().get()

    assert (webhooks["sent"], emails["sent"]) == (1, 1)
    assert WebhookDelivery.objects.get().status == SendStatus.SENT
    assert Notification.objects.get().status == SendStatus.SENT
    assert len(receiver.received) == len(mail.outbox) == 1


def test_the_sweep_kicks_only_when_something_is_due(monkeypatch, shop, products, run_events):
    kicked = []
    monkeypatch.setattr(tasks.webhook_deliver_task, "delay", lambda: kicked.append("webhooks"))
    monkeypatch.setattr(tasks.email_send_task, "delay", lambda: kicked.append("emails"))

    tasks.notifications_sweep_task.apply()
    assert kicked == []

    order_for(shop)
    run_events()  # order confirmed: its e-mail is due
    tasks.notifications_sweep_task.apply()
    assert kicked == ["emails"]


def test_the_purge_keeps_open_deliveries(shop, products, receiver, endpoint_at, run_events):
    endpoint_at("/in", event_types=["order.placed", "order.confirmed"])
    order_for(shop)
    run_events()
    WebhookDelivery.objects.filter(event_type="order.placed").update(status=SendStatus.SENT)
    WebhookDelivery.objects.update(created_at="2000-01-01T00:00:00Z")

    assert tasks.webhook_deliveries_purge_task.apply().get() == 1

    assert list(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["order.confirmed"]


def test_the_embedded_worker_command_sends_and_stops(
    monkeypatch, shop, products, receiver, endpoint_at, run_events
):
    endpoint_at("/in", event_types=["order.confirmed"])
    order_for(shop)
    run_events()

    def sleep_once(seconds):
        command.running = False

    command = notifications_worker.Command()
    monkeypatch.setattr(notifications_worker.time, "sleep", sleep_once)
    # the test's transaction holds the connection the loop would recycle between sweeps
    monkeypatch.setattr(notifications_worker, "close_old_connections", lambda: None)
    call_command(command, "--interval", "0")

    assert len(receiver.received) == 1
    assert len(mail.outbox) == 1
