"""Tracking's reaction to the feed: one projector over every event it records.

What each event type becomes in an order's history is the table in ``reactions``; the
projector applies a whole batch of the committed feed at once (``services.projection``),
in the engine's one transaction per batch, and pushes once per order after it commits.

The history is a projection of events that stay in the outbox: the engine commits its
batches without waiting for the disk, and one lost in a PostgreSQL crash is recorded
again from the checkpoint, which is lost with it.
"""

from orderflow.events.projectors import FeedEvent, projector

from . import services
from .reactions import REACTIONS


@projector("tracking", event_types=REACTIONS.keys())
def project(batch: list[FeedEvent]) -> None:
    services.tracking_project(events=batch)
