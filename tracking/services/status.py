"""The order's live status: Redis first, rebuilt from PostgreSQL on a miss (cache-aside)."""

from uuid import UUID

from .. import payloads
from ..live_status import LiveStatus, live_status_get, live_status_set
from ..models import TrackedOrder
from .recording import tracked_order_ensure


def live_status_for_order(*, order_id: UUID) -> LiveStatus | None:
    live = live_status_get(order_id)
    if live is not None:
        return live
    tracked = tracked_order_ensure(order_id=order_id)
    return None if tracked is None else _rebuilt(tracked)


def live_status_for_tracked(tracked: TrackedOrder) -> LiveStatus:
    """``live_status_for_order`` for an order whose tracking row the caller has just read:
    a miss is rebuilt from that row instead of reading it again."""
    return live_status_get(tracked.order_id) or _rebuilt(tracked)


def _rebuilt(tracked: TrackedOrder) -> LiveStatus:
    live = payloads.live_status_of(tracked)
    # compare-and-set: if an event landed meanwhile, its newer snapshot stays
    live_status_set(tracked.order_id, live)
    return live
