"""What the notifications context publishes: its public contract with the other contexts."""

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic.dataclasses import dataclass

from orderflow.events import Event


@dataclass(frozen=True, kw_only=True)
class WebhookEndpointDisabled(Event):
    """A shop's webhook endpoint failed for too long and receives nothing until re-enabled."""

    type: ClassVar[str] = "webhook_endpoint.disabled"
    aggregate: ClassVar[str] = "webhook_endpoint"
    aggregate_id_field: ClassVar[str] = "endpoint_id"

    endpoint_id: UUID
    shop_id: int
    url: str
    failing_since: datetime
    last_error: str
