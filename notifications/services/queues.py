"""The senders' two work queues, on the kernel's engine (``orderflow.events.workqueue``).

PostgreSQL carries the work, Celery carries data-less kicks: due rows are claimed in a
batch with ``FOR UPDATE SKIP LOCKED`` and a lease, so any number of workers share the
tables and a killed worker's claims return to the pool when the lease ends; a coalesced
kick after commit wakes a sender, and beat's sweep picks up lost kicks and due retries.
What is particular to notifications is only declared here: the tables, their statuses,
and each sender's lease. Retry schedules stay the senders' own (``webhooks.retry_delay``,
``emails.RETRY_DELAYS``): they are promises to the shops and their customers.

A claim commits synchronously, and must: the projector's batches that queue these rows
commit without waiting for the disk, and this flush is what makes a row durable before
anything is sent from it.
"""

from dataclasses import dataclass, fields
from datetime import timedelta

from django.conf import settings

from orderflow.events.workqueue import Kick, WorkQueue

from .. import webhooks
from ..choices import SendStatus
from ..models import Notification, WebhookDelivery

WEBHOOK_TASK = "notifications.tasks.webhook_deliver_task"
EMAIL_TASK = "notifications.tasks.email_send_task"

#: an attempt's worst case: its POST's whole timeout, then the commit of its record
ATTEMPT_BUDGET_SECONDS = webhooks.TIMEOUT_SECONDS + 5
#: How long a claimed webhook batch is held, and so how long a killed worker's claims wait
#: before another worker takes them. A batch's groups start an attempt only while it can
#: still finish inside the lease, handing the rest back untried: room for three attempts
#: that run out their timeout, while a batch of answering endpoints takes well under a
#: second. (Leasing for the batch's worst case, every row timing out, made a killed
#: worker's webhooks wait 90 s.)
WEBHOOK_LEASE = timedelta(seconds=3 * ATTEMPT_BUDGET_SECONDS)
EMAIL_BATCH_SIZE = 20
EMAIL_LEASE = timedelta(seconds=EMAIL_BATCH_SIZE * (settings.EMAIL_TIMEOUT + 1) + 30)


def _queue(model, task: str, lease: timedelta) -> WorkQueue:
    return WorkQueue(
        model=model,
        kick=Kick(task, flag=f"notifications:kick-pending:{task}"),
        pending=SendStatus.QUEUED,
        running=SendStatus.SENDING,
        dead=SendStatus.FAILED,
        done=SendStatus.SENT,
        due_field="next_attempt_at",
        order_by=("next_attempt_at", "pk"),
        lease_seconds=lease.total_seconds(),
        synchronous_claim=True,
    )


WEBHOOKS = _queue(WebhookDelivery, WEBHOOK_TASK, WEBHOOK_LEASE)
EMAILS = _queue(Notification, EMAIL_TASK, EMAIL_LEASE)


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
