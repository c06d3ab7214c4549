"""The kernel's tables: the transactional outbox and the idempotency store.

Both are written inside the caller's transaction, which is the whole point: an order,
its ``order.placed`` row and the stored API response commit together or not at all.
"""

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


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
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate", "aggregate_id", "sequence"],
                name="outbox_unique_aggregate_sequence",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant_id", "created_at"], name="outbox_tenant_created"),
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
