"""Celery entry points of the notifications context: thin, over its services."""

import logging

from celery import shared_task

from . import services
from .services.dispatch import EMAIL_TASK, WEBHOOK_TASK, kick_received, running

logger = logging.getLogger(__name__)


@shared_task(name=WEBHOOK_TASK, acks_late=True)
def webhook_deliver_task() -> dict:
    """Send due webhook deliveries until none is due (a kick after commit, or the sweep)."""
    kick_received(WEBHOOK_TASK)
    with running(WEBHOOK_TASK):
        result = services.webhook_deliveries_drain()
    if (
        not webhook_deliver_task.app.conf.task_always_eager
        and services.webhook_deliveries_due_exist()
    ):
        webhook_deliver_task.delay()  # time ran out with work left: hand over
    return result.__dict__


@shared_task(name=EMAIL_TASK, acks_late=True)
def email_send_task() -> dict:
    """Send due e-mails until none is due (a kick after commit, or the sweep)."""
    kick_received(EMAIL_TASK)
    with running(EMAIL_TASK):
        result = services.email_notifications_drain()
    if not email_send_task.app.conf.task_always_eager and services.email_notifications_due_exist():
        email_send_task.delay()
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
    logger.info("purged %d old webhook deliveries", deleted)
    return deleted
