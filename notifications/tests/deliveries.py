"""A webhook delivery queued by hand, as the fan-out would queue it (for sender tests)."""

import uuid
from datetime import datetime

from django.utils import timezone

from notifications.choices import SendStatus
from notifications.models import WebhookDelivery, WebhookEndpoint


def queued_delivery(
    endpoint: WebhookEndpoint, *, due_at: datetime | None = None
) -> WebhookDelivery:
    """An ``order.placed`` delivery to ``endpoint``, due at ``due_at`` (now by default)."""
    event_id = uuid.uuid4()
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event_id,
        event_type="order.placed",
        payload={"event_id": str(event_id), "type": "order.placed", "data": {}},
        status=SendStatus.QUEUED,
        next_attempt_at=due_at or timezone.now(),
    )
