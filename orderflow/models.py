"""The kernel's tables: the transactional outbox and the idempotency store.

Both are written inside the caller's transaction, which is the whole point: an order,
its ``order.placed`` row and the stored API response commit together or not at all.
"""

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_noop


class OutboxEvent(models.Model):
    """One published domain event: its envelope and data, as the relay will deliver it."""

    event_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=100)
    version = models.PositiveSmallIntegerField(default=1)
    aggregate = models.CharField(max_length=50)
    aggregate_id = models.CharField(max_length=64)
    sequence = models.PositiveIntegerField(help_text="Gap-free per aggregate, from 1.")
    tenant_id = models.CharField(
        max_length=64, blank=True, default="", help_text="The shop the event belongs to, if any."
    )
    correlation_id = models.CharField(max_length=128, blank=True, default="")
    causation_id = models.CharField(max_length=64, blank=True, default="")
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    trace_context = models.JSONField(default=dict, blank=True)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="When the relay fanned the event out to its subscribers."
    )
    position = models.BigIntegerField(
        null=True,
        blank=True,
        unique=True,
        help_text="Place in the shops' event feed, given in commit order by the relay.",
    )

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate", "aggregate_id", "sequence"],
                name="outbox_unique_aggregate_sequence",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant_id", "position"], name="outbox_tenant_position"),
            models.Index(
                fields=["created_at"],
                name="outbox_unpublished",
                condition=models.Q(published_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.aggregate}:{self.aggregate_id}#{self.sequence}"


class IdempotencyKey(models.Model):
    """A completed request's response, replayed for a retry carrying the same key."""

    scope = models.CharField(max_length=64, help_text="Whose key it is, e.g. shop:42.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_unique_scope_key"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    DEAD = "dead", "Dead letter"


class Delivery(models.Model):
    """One (event, subscriber) pair: the unit of work the delivery workers claim and run.

    A delivery is at-least-once: it may run again after a lost lease. Its effect is
    once, because the subscriber's inbox entry commits with the effect.
    """

    #: no index of its own: ``delivery_unique_event_subscriber`` leads with the event (a
    #: delivery is written three times — made, claimed, done — and each write pays every index)
    event = models.ForeignKey(
        OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    subscriber = models.CharField(max_length=150)
    # Copied from the event so that ordered claims need no join.
    aggregate = models.CharField(max_length=50)
    aggregate_id = models.CharField(max_length=64)
    sequence = models.PositiveIntegerField()
    ordered = models.BooleanField(default=False)
    # Copied from the subscriber: due deliveries are claimed highest priority first.
    priority = models.SmallIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    available_at = models.DateTimeField(help_text="Not claimed before this time (retry backoff).")
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A running claim returns to the pool after this."
    )
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.CharField(
        max_length=200, blank=True, default="", help_text="Who replayed it last: staff:ana."
    )

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "subscriber"], name="delivery_unique_event_subscriber"
            ),
        ]
        indexes = [
            models.Index(
                fields=["-priority", "available_at", "id"],
                name="delivery_claimable",
                condition=models.Q(status__in=["pending", "running"]),
            ),
            models.Index(
                fields=["subscriber", "aggregate", "aggregate_id", "sequence"],
                name="delivery_ordered_open",
                condition=~models.Q(status="done"),
            ),
            models.Index(fields=["status", "subscriber"], name="delivery_status_subscriber"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscriber}"


class DeadLetterManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(status=DeliveryStatus.DEAD)


class DeadLetter(Delivery):
    """A delivery that will not be retried by itself: replay it once the cause is fixed."""

    objects = DeadLetterManager()

    class Meta:
        proxy = True


class DeliveryAttempt(models.Model):
    """A failed attempt, kept for support (successes are the delivery's ``done_at``)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="failures")
    number = models.PositiveSmallIntegerField()
    failed_at = models.DateTimeField(auto_now_add=True)
    error = models.TextField()
    traceback = models.TextField(blank=True)
    retryable = models.BooleanField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"


class InboxEntry(models.Model):
    """The done-mark of a delivery, committed in the same transaction as its effect."""

    event_id = models.UUIDField()
    subscriber = models.CharField(max_length=150)
    processed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "inbox entries"
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "subscriber"], name="inbox_unique_event_subscriber"
            ),
        ]
        indexes = [models.Index(fields=["processed_at"], name="inbox_processed")]

    def __str__(self) -> str:
        return f"{self.event_id} done by {self.subscriber}"


class StaffAccess(models.Model):
    """No table: the holder of the staff permissions that ``orderflow.roles`` groups in roles.

    Each one is checked by a staff page, action or socket; ``roles_sync`` gives them to the
    viewer, operator and supervisor groups.
    """

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "staff access"
        verbose_name_plural = "staff access"
        # gettext_noop: the names stay English in the database; the 'Not allowed' page
        # translates them (roles.denied_message)
        permissions = [
            (
                "view_staff_pages",
                gettext_noop("See the staff pages (board, orders, invoices, failed deliveries)"),
            ),
            ("place_order", gettext_noop("Place an order on behalf of a shop")),
            ("ship_order", gettext_noop("Ship an order")),
            ("deliver_order", gettext_noop("Mark an order out for delivery or delivered")),
            ("cancel_unpaid_order", gettext_noop("Cancel an order that is not paid yet")),
            ("refund_order", gettext_noop("Cancel a paid order, refunding its payment")),
            ("replay_dead_letter", gettext_noop("Replay failed deliveries")),
            ("write_order_note", gettext_noop("Write internal notes on an order")),
            ("resend_customer_email", gettext_noop("Send a customer e-mail of an order again")),
            (
                "change_order_address",
                gettext_noop("Change the shipping address of an order not yet shipped"),
            ),
        ]

    def __str__(self) -> str:
        return "staff access"


class ProjectorCheckpoint(models.Model):
    """How far one projector has read the event feed, committed with its effects.

    ``position`` is the last feed position applied (or skipped as a type it does not
    read). While one event keeps failing, the checkpoint stays just before it:
    ``failing_event_id``, ``attempts`` and ``retry_at`` say which, how often and when next.
    """

    name = models.CharField(max_length=150, unique=True)
    position = models.BigIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    failing_event_id = models.UUIDField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} at {self.position}"


class ParkedEvent(models.Model):
    """An event a projector failed to apply for good: its dead letter, passed by the checkpoint.

    Replay applies it again (``projector_apply``) once the cause is fixed.
    """

    projector = models.CharField(max_length=150)
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="parkings")
    position = models.BigIntegerField()
    error = models.TextField()
    traceback = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField()
    parked_at = models.DateTimeField()
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.CharField(
        max_length=200, blank=True, default="", help_text="Who replayed it last: staff:ana."
    )

    class Meta:
        ordering = ["parked_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["projector", "event"], name="parked_unique_projector_event"
            ),
        ]
        indexes = [
            models.Index(
                fields=["parked_at"],
                name="parked_unreplayed",
                condition=models.Q(replayed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} parked by {self.projector}"
