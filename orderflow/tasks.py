"""Kernel Celery tasks: thin entry points over kernel services."""

import logging

from celery import shared_task

from .events.maintenance import events_purge
from .events.relay import drain, due_backlog_exists
from .idempotency import idempotency_keys_purge

logger = logging.getLogger(__name__)


@shared_task(name="orderflow.tasks.events_pump_task", acks_late=True)
def events_pump_task() -> dict:
    """Relay and deliver until nothing is due (a kick after commit, or the beat sweep)."""
    result = drain()
    if not events_pump_task.app.conf.task_always_eager and due_backlog_exists():
        # Time ran out with work left: hand over rather than hold the worker forever.
        events_pump_task.delay()
    return result.__dict__


@shared_task(name="orderflow.tasks.events_sweep_task", ignore_result=True)
def events_sweep_task() -> None:
    """Beat's safety net: a lost kick, a due retry or an expired lease only waits for this."""
    if due_backlog_exists():
        events_pump_task.delay()


@shared_task(name="orderflow.tasks.events_purge_task")
def events_purge_task() -> dict:
    return events_purge()


@shared_task(name="orderflow.tasks.idempotency_purge_task")
def idempotency_purge_task() -> int:
    deleted = idempotency_keys_purge()
    logger.info("purged %d expired idempotency keys", deleted)
    return deleted
