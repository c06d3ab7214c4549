"""Use cases of the tracking context."""

from .notes import order_note_add
from .pages import (
    board_shops,
    order_page_get,
    public_tracked_order,
    public_tracking_get,
    tracking_for_shop_order,
)
from .projection import tracking_project
from .recording import tracked_order_ensure
from .status import live_status_for_order

__all__ = [
    "board_shops",
    "live_status_for_order",
    "order_note_add",
    "order_page_get",
    "public_tracked_order",
    "public_tracking_get",
    "tracked_order_ensure",
    "tracking_for_shop_order",
    "tracking_project",
]
