"""The notifications context's reaction to events: one projector over the shops' feed.

Every event that belongs to a shop may go to the shop's webhook endpoints, and the types
in ``emails.TRIGGERS`` queue e-mails. The projector applies a whole batch of the committed
feed at once (``services.projection``: one statement for the webhook rows, one for the
e-mail ledger), in the engine's one transaction per batch, and kicks the senders after it
commits. No ``Delivery`` row nor inbox entry per event: the engine's checkpoint and the
rows' natural unique keys make a re-applied batch add nothing.

The other contexts' ``events`` modules are imported first, so every type they declare is
known whatever order the apps are loaded in.
"""

import orders.events  # noqa: F401  (declares the order, stock and shipment events)
import payments.events  # noqa: F401  (declares the payment and invoice events)
from orderflow.events.projectors import FeedEvent, projector

from . import events as own_events  # noqa: F401  (declares webhook_endpoint.disabled)
from .services.projection import PROJECTOR, notifications_project, projected_event_types


@projector(PROJECTOR, event_types=projected_event_types())
def project(batch: list[FeedEvent]) -> None:
    notifications_project(events=batch)
