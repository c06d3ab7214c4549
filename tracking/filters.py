"""The staff board's filters as typed in a URL, made safe to query with.

Filters come from a query string anyone can edit: a NUL byte (which PostgreSQL refuses in
text), a shop id of 30 digits or of Arabic-Indic digits, control characters. Each is
ignored or dropped here, for the page and its socket alike, so no filter is a 500.
"""

import re
import unicodedata
from datetime import datetime

from orders.events import OrderStatus

from . import queues
from .choices import Milestone

#: a shop id as the board's links write it: ASCII digits, within a bigint
_SHOP_ID = re.compile(r"[0-9]{1,18}")
#: a page number as a person might type one; more digits than this are junk, not a page
_PAGE = re.compile(r"[0-9]{1,30}")
SEARCH_MAX_LENGTH = 100

#: the board's status filter offers the order's statuses, in the order they are lived
BOARD_STATUSES = [(status.value, Milestone(status.value).label) for status in OrderStatus]


def board_status(value: str | None) -> str:
    """Return the status to filter on, or "" (any) for anything but one of the board's."""
    return value if value in dict(BOARD_STATUSES) else ""


def work_queue(value: str | None) -> str:
    """Return the work queue of board rows to show, or "" (none) for anything else."""
    queue = queues.queue_get(value)
    return queue.slug if queue is not None else ""


def shop_id(value: str | None) -> int | None:
    """Return the shop id to filter on, or None (every shop) for anything but a plain id."""
    if value and _SHOP_ID.fullmatch(value):
        return int(value)
    return None


def search_text(value: str | None) -> str:
    """Return the search text without control characters (NUL included), trimmed."""
    text = "".join(ch for ch in (value or "") if unicodedata.category(ch) not in ("Cc", "Cs"))
    return text.strip()[:SEARCH_MAX_LENGTH]


def page_number(value: str | None) -> int:
    """Return the page asked for (1 for junk); the selector caps it at the last page."""
    if value and _PAGE.fullmatch(value):
        return max(1, int(value))
    return 1


def page_anchor(value: str | None) -> datetime | None:
    """Return the time a later page was first shown (its socket's ``until``), or None.

    Only an aware ISO time is taken: anything else makes the socket serve the page
    unanchored, as a first visit would.
    """
    if not value or len(value) > 40:
        return None
    try:
        anchor = datetime.fromisoformat(value)
    except ValueError:
        return None
    return anchor if anchor.tzinfo is not None else None
