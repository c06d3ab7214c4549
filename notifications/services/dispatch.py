"""The senders' shared loop mechanics: claim due rows, and kick a sender after commit.

The pattern is the kernel's (orderflow/events/relay.py): PostgreSQL carries the work,
Celery carries data-less kicks. Due rows are claimed in a batch with ``FOR UPDATE SKIP
LOCKED`` and a lease, so any number of workers share the tables and a killed worker's
claims return to the pool when the lease ends; a beat sweep picks up lost kicks and due
retries.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import partial

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q, QuerySet

from ..choices import SendStatus

WEBHOOK_TASK = "notifications.tasks.webhook_deliver_task"
EMAIL_TASK = "notifications.tasks.email_send_task"
KICK_FLAG_TTL = 2

_local = threading.local()


@dataclass
class SendResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    postponed: int = 0
    #: sent or tried, but the outcome could not be written (the row vanished meanwhile)
    unrecorded: int = 0

    def __iadd__(self, other: "SendResult") -> "SendResult":
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))
        return self

    @property
    def handled(self) -> int:
        return (
            self.sent + self.retried + self.failed + self.skipped + self.postponed + self.unrecorded
        )


def due(now: datetime) -> Q:
    """Queued and due, or sending under a lease that ended (its worker died)."""
    return Q(status=SendStatus.QUEUED, next_attempt_at__lte=now) | Q(
        status=SendStatus.SENDING, lease_until__lt=now
    )


def claim_due(queryset: QuerySet, *, now: datetime, limit: int, lease: timedelta) -> list:
    """Claim up to ``limit`` due rows: mark them sending, count the attempt, set the lease.

    The claim commits synchronously, and must: the handlers that queue these rows commit
    without waiting for the disk, and this flush is what makes a row durable before
    anything is sent from it.
    """
    with transaction.atomic():
        rows = list(
            queryset.filter(due(now))
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True, of=("self",))[:limit]
        )
        if not rows:
            return []
        lease_until = now + lease
        queryset.model.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=SendStatus.SENDING, attempts=F("attempts") + 1, lease_until=lease_until
        )
    for row in rows:
        row.status = SendStatus.SENDING
        row.attempts += 1
        row.lease_until = lease_until
    return rows


# --- kicks ---
def kick_after_commit(task_name: str) -> None:
    """Wake a sender once the current transaction commits (never before)."""
    transaction.on_commit(partial(_kick, task_name), robust=True)


def _kick(task_name: str) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # Embedded mode: send right here, unless this thread is already running that
        # sender, whose loop picks the new rows up.
        if task_name not in getattr(_local, "running", ()):
            current_app.tasks[task_name].delay()
        return
    # Coalesced: while one kick waits for a worker, committing transactions add none.
    if cache.add(_flag(task_name), 1, timeout=KICK_FLAG_TTL):
        current_app.tasks[task_name].delay()


def kick_received(task_name: str) -> None:
    """Clear the coalescing flag as a sender starts, so later commits kick again."""
    cache.delete(_flag(task_name))


@contextmanager
def running(task_name: str) -> Iterator[None]:
    previous = getattr(_local, "running", frozenset())
    _local.running = previous | {task_name}
    try:
        yield
    finally:
        _local.running = previous


def _flag(task_name: str) -> str:
    return f"notifications:kick-pending:{task_name}"
