"""The notifications context's tables: the e-mail ledger, webhook endpoints and deliveries.

Shops and orders are other contexts' rows, referenced by id only.
"""

import uuid
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .choices import AttemptOutcome, Channel, SendStatus

OPEN = [SendStatus.QUEUED, SendStatus.SENDING]


class OutgoingMessage(models.Model):
    """What the senders claim: a status, a due time in the row and a lease while sending.

    ``next_attempt_at`` keeps retry waits in PostgreSQL (never a broker countdown); a
    claim marks rows ``sending`` until ``lease_until``, so a killed worker's rows return
    to the pool when the lease ends. ``trace_context`` carries the trace of the event
    that queued the row to the worker that sends it, whenever that is.
    """

    status = models.CharField(max_length=10, choices=SendStatus.choices, default=SendStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Attempts since the message was queued (or last replayed)."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    trace_context = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="W3C trace context of the work that queued it: its sending joins that trace.",
    )

    class Meta:
        abstract = True


class Notification(OutgoingMessage):
    """The ledger: one row per (event, channel, template), so an event notifies once.

    Subject and bodies are rendered at the first send and kept, so the ledger shows what
    was sent and a resend sends the very same message.
    """

    event_id = models.UUIDField()
    event_type = models.CharField(max_length=100)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    template = models.CharField(max_length=150, help_text="<event type>/<audience>")
    shop_id = models.BigIntegerField(db_index=True)
    order_id = models.UUIDField(null=True, blank=True, db_index=True)
    data = models.JSONField(encoder=DjangoJSONEncoder, help_text="The event's data.")
    recipient = models.CharField(max_length=254, blank=True)
    from_email = models.CharField(max_length=300, blank=True)
    reply_to = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    sent_count = models.PositiveSmallIntegerField(
        default=0, help_text="How many times it was sent (more than one only by a resend)."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "channel", "template"], name="notification_unique_key"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="notification_due",
                condition=models.Q(status__in=["queued", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} for {self.event_id}"

    @property
    def rendered(self) -> bool:
        return bool(self.subject)


class WebhookEndpoint(models.Model):
    """A shop's URL that receives its events, signed with the endpoint's secret."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shop_id = models.BigIntegerField(db_index=True)
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=500, blank=True)
    event_types = models.JSONField(
        default=list, blank=True, help_text="Event types to send; empty means all."
    )
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    active = models.BooleanField(default=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failed attempt since the last success."
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets to sign with: during a rotation, the new one and the previous one."""
        secrets = [self.secret]
        if self.previous_secret and (
            self.previous_secret_expires_at is None or self.previous_secret_expires_at > now
        ):
            secrets.append(self.previous_secret)
        return secrets


class WebhookDelivery(OutgoingMessage):
    """One event for one endpoint: unique, so a redelivered event is never sent twice."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    #: no index of its own: ``webhookdelivery_endpoint`` leads with the endpoint (a delivery
    #: is written three times — queued, claimed, recorded — and each write pays every index)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event_id = models.UUIDField(help_text="Sent as webhook-id: the same on every attempt.")
    event_type = models.CharField(max_length=100)
    payload = models.JSONField(encoder=DjangoJSONEncoder, help_text="The envelope and data.")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "endpoint"], name="webhookdelivery_unique_event_endpoint"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhookdelivery_due",
                condition=models.Q(status__in=["queued", "sending"]),
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: the delivery log."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveSmallIntegerField(help_text="Attempt number since queued or replayed.")
    request_id = models.UUIDField(help_text="Sent as X-Request-ID; new on every attempt.")
    url = models.CharField(max_length=2000)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first bytes of the response.")
    error = models.CharField(max_length=1000, blank=True)
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "started_at", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"


class EmailResend(models.Model):
    """Who asked for an e-mail to be sent again, and when: the audit of resends.

    The ledger row counts its sends (``sent_count``); this says who caused each extra one.
    """

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="resends")
    #: as actors are named elsewhere (``staff:ana``); "" for a resend that named nobody
    actor = models.CharField(max_length=200, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"resend of {self.notification_id} by {self.actor or 'unknown'}"
