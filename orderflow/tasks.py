"""Kernel Celery tasks: thin entry points over kernel services."""

import logging

from celery import shared_task

from .idempotency import idempotency_keys_purge

logger = logging.getLogger(__name__)


@shared_task(name="orderflow.tasks.idempotency_purge_task")
def idempotency_purge_task() -> int:
    deleted = idempotency_keys_purge()
    logger.info("purged %d expired idempotency keys", deleted)
    return deleted
