"""Celery entry points of the notifications context: thin, over its services."""

import logging

from celery import shared_task

from . import services
from .services.queues import EMAIL_TASK, EMAILS, WEBHOOK_TASK, WEBHOOKS

logger = logging.getLogger(__name__)


@shared_task(name=WEBHOOK_TASK, acks_late=True)
def webhook_deliver_task() -> dict:
    """Send due webhook deliveries until none is due (a kick after commit, or the sweep)."""
    result = services.webhook_deliveries_drain()
    WEBHOOKS.hand_over()  # time ran out with work left: another run takes it
    return result.__dict__


@shared_task(name=EMAIL_TASK, acks_late=True)
def email_send_task() -> dict:
    """Send due e-mails until none is due (a kick after commit, or the sweep)."""
    result = services.email_notifications_drain()
    EMAILS.hand_over()
    return result.__dict__


@shared_task(name="notifications.tasks.notifications_sweep_task", ignore_result=True)
def notifications_sweep_task() -> None:
    """Beat's safety net: due retries and lost kicks of both senders only wait for this."""
    if services.webhook_deliveries_due_exist():
        webhook_deliver_task.delay()
    if services.email_notifications_due_exist():
        email_send_task.delay()


@shared_task(name="notifications.tasks.webhook_deliveries_purge_task")
def webhook_deliveries_purge_task() -> int:
    deleted = services.webhook_deliveries_purge()
    if deleted:  # a line that says nothing happened, hourly, is noise
        logger.info("purged %d old webhook deliveries", deleted)
    return deleted
