"""Kicks: tell a worker, after commit, that there is new work in the outbox.

A kick carries no data — PostgreSQL carries the work — so a lost kick only delays
until the beat sweep. Kicks are coalesced through the cache: while one is waiting for a
worker, committing transactions do not queue more.
"""

import threading

from celery import current_app
from django.conf import settings
from django.core.cache import cache

PUMP_TASK = "orderflow.tasks.events_pump_task"
KICK_FLAG = "orderflow:events:kick-pending"
KICK_FLAG_TTL = 2

_local = threading.local()


def kick_after_commit() -> None:
    if getattr(settings, "FAULTS_UNSAFE_NO_KICK", False):  # make faults' control only
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # Embedded mode: drain right here, unless this thread is already draining (a
        # handler's own publish), in which case the running drain picks the rows up.
        if getattr(_local, "draining", False):
            return
        current_app.tasks[PUMP_TASK].delay()
        return
    if cache.add(KICK_FLAG, 1, timeout=KICK_FLAG_TTL):
        current_app.tasks[PUMP_TASK].delay()


def kick_received() -> None:
    """Clear the coalescing flag as a worker starts draining, so later commits kick again."""
    cache.delete(KICK_FLAG)


class draining:
    """Mark this thread as draining (see :func:`kick_after_commit`)."""

    def __enter__(self):
        self.previous = getattr(_local, "draining", False)
        _local.draining = True
        return self

    def __exit__(self, *exc):
        _local.draining = self.previous
        return False
