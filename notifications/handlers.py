"""The notifications context's reaction to events: one projector over the shops' feed.

INTERIM: until the kernel's projector engine lands, each projected type keeps a
``@subscriber`` that applies a one-event batch through the same set-based projection.

The other contexts' ``events`` modules are imported first, so every type they declare is
known whatever order the apps are loaded in.
"""

from dataclasses import dataclass
from datetime import datetime

import orders.events  # noqa: F401  (declares the order, stock and shipment events)
import payments.events  # noqa: F401  (declares the payment and invoice events)
from orderflow import tracing
from orderflow.events import Envelope, Event, subscriber

from . import events as own_events  # noqa: F401  (declares webhook_endpoint.disabled)
from .services.projection import notifications_project, projected_event_types


@dataclass(frozen=True)
class _OneEvent:
    event_id: str
    type: str
    version: int
    aggregate: str
    aggregate_id: str
    sequence: int
    tenant_id: str
    correlation_id: str
    causation_id: str
    occurred_at: datetime
    trace_context: dict
    data: dict


def _project(event: Event, envelope: Envelope) -> None:
    notifications_project(
        events=[
            _OneEvent(
                event_id=envelope.event_id,
                type=envelope.type,
                version=envelope.version,
                aggregate=envelope.aggregate,
                aggregate_id=envelope.aggregate_id,
                sequence=envelope.sequence,
                tenant_id=envelope.tenant_id,
                correlation_id=envelope.correlation_id,
                causation_id=envelope.causation_id,
                occurred_at=envelope.occurred_at,
                trace_context=tracing.current_trace_context(),
                data=event.to_data(),
            )
        ]
    )


for _type in projected_event_types():
    subscriber(
        _type,
        name=f"notifications.project_on_{_type.replace('.', '_')}",
        synchronous_commit=False,
    )(_project)
