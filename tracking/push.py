"""Live pushes to the pages' sockets, sent only after the tracking row commits.

Channel layers drop messages by design (a full channel, a restarted Redis, a socket
between reconnects), so a push is a hint: every message carries what the page needs
to apply it and the sequence to notice a gap, and the pages resync from the database
when they see one or when a heartbeat says they are behind.
"""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from . import payloads
from .models import TrackedOrder, TrackingEntry

logger = logging.getLogger(__name__)

BOARD_ALL = "board.all"


def board_group(shop_id: int | None) -> str:
    return BOARD_ALL if shop_id is None else f"board.shop.{shop_id}"


def order_group(order_id) -> str:
    return f"order.{order_id}"


def public_group(order_id) -> str:
    return f"order.{order_id}.public"


def push_entry_after_commit(
    *, tracked: TrackedOrder, entry: TrackingEntry, previous_status: str
) -> None:
    """Queue the pushes for a new entry; they leave only if the transaction commits."""
    live = payloads.live_status_of(tracked)
    messages = [
        (
            order_group(tracked.order_id),
            {
                "type": "tracking.entry",
                "entry": payloads.staff_entry(entry),
                "order": payloads.live_status_payload(live),
            },
        )
    ]
    if entry.public:
        messages.append(
            (
                public_group(tracked.order_id),
                {
                    "type": "tracking.entry",
                    "entry": payloads.public_entry(entry),
                    "order": payloads.public_order(tracked, live),
                },
            )
        )
    if entry.aggregate == "order":
        row = {
            "type": "board.row",
            "row": payloads.board_row(tracked),
            "previous_status": previous_status,
        }
        messages += [(board_group(None), row), (board_group(tracked.shop_id), row)]
    transaction.on_commit(partial(send, messages), robust=True)


def send(messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_send_all)(layer, messages)
    except Exception:
        # A lost push is healed by the pages' resync; never fail the caller for it.
        logger.warning("live push failed; pages will resync from the database", exc_info=True)


async def _send_all(layer, messages: list[tuple[str, dict]]) -> None:
    for group, message in messages:
        await layer.group_send(group, message)
