"""The board's work queues: saved views staff bookmark (``/staff/?queue=to-ship``), each with
a live count in the board's navigation.

A queue is one declaration. A queue of board rows says which rows it holds twice, in the
same words: as a filter for the database (``where``: the page, its counts, the CSV export)
and as a test of one row (``holds``: a projector batch computes each moved row's queues,
before and after, in Python, so the board's push tells every open page which queue a row
left and joined, and the counts move without a query per push or per socket). A test
checks that the two agree on rows of every kind. A queue that is no set of board rows
(stuck work: failed event handling) links to its own page and declares its ``items``; the
board's counts query counts them too, and since pushes cannot tell them, the board socket's
heartbeat carries their count.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy

from orderflow.events.maintenance import dead_letters
from orders.events import OrderStatus

from .models import TrackedOrder

#: the parcel states that need a person: the carrier could not deliver, holds the parcel,
#: is sending it back, or cancelled its shipment (``TrackedOrder.delivery_issue``; good news
#: from the carrier clears it when no other parcel is in trouble)
DELIVERY_EXCEPTIONS = ("delivery_failed", "held", "returned_to_sender", "cancelled")
#: the statuses with units still to hand to a carrier (an order shipping in several parcels
#: is ``partially_shipped`` until the last one leaves)
TO_SHIP = (OrderStatus.CONFIRMED.value, "partially_shipped")


@dataclass(frozen=True)
class WorkQueue:
    slug: str
    #: the queue's name in the reader's language (a lazy translation)
    label: str
    #: what the queue is for, shown as the link's description on the board
    description: str
    #: the board rows in the queue, for the database
    where: Q | None = None
    #: the same test on one row (``where`` and ``holds`` must agree: see the tests)
    holds: Callable[[TrackedOrder], bool] | None = None
    #: a queue that is not board rows: the items it holds (in one shop, or all), counted
    #: with the board's counts (``selectors.board_tallies``) and alone for a heartbeat
    items: Callable[[int | None], QuerySet] | None = None
    #: … and where its items are handled (for one shop, or all)
    url: Callable[[int | None], str] | None = None
    #: … and where they are downloaded as CSV (for one shop, or all)
    export_url: Callable[[int | None], str] | None = None
    #: off: declared, but not shown or counted (while what it needs has not landed)
    enabled: bool = True

    @property
    def of_rows(self) -> bool:
        return self.where is not None


def _stuck_items(shop_id: int | None) -> QuerySet:
    return dead_letters(tenant_id=str(shop_id) if shop_id is not None else None)


def _stuck_url(shop_id: int | None, *, name: str = "failed-events") -> str:
    url = reverse(name)
    return f"{url}?shop={shop_id}" if shop_id is not None else url


def _stuck_export_url(shop_id: int | None) -> str:
    return _stuck_url(shop_id, name="failed-events-export")


QUEUES: tuple[WorkQueue, ...] = (
    WorkQueue(
        "to-ship",
        gettext_lazy("To ship"),
        gettext_lazy("Confirmed orders with units still to hand to a carrier"),
        where=Q(status__in=TO_SHIP),
        holds=lambda row: row.status in TO_SHIP,
    ),
    WorkQueue(
        "delivery-exceptions",
        gettext_lazy("Delivery exceptions"),
        gettext_lazy("Parcels the carrier could not deliver, holds or is returning to the sender"),
        where=Q(delivery_issue__in=DELIVERY_EXCEPTIONS),
        holds=lambda row: row.delivery_issue in DELIVERY_EXCEPTIONS,
    ),
    WorkQueue(
        "payment-failed",
        gettext_lazy("Payment failed"),
        gettext_lazy("Orders cancelled because the customer's payment failed"),
        where=Q(status=OrderStatus.CANCELLED, outcome__cause="payment"),
        holds=lambda row: (
            row.status == OrderStatus.CANCELLED and (row.outcome or {}).get("cause") == "payment"
        ),
    ),
    WorkQueue(
        "returns",
        gettext_lazy("Returns to process"),
        gettext_lazy(
            "Orders with a return asked for, approved or received and not yet settled; each "
            "open return is listed under its order"
        ),
        # an order's every open return counts (``TrackedOrder.open_returns``), not only
        # its latest: a second return settled never hides a first one still open
        where=Q(open_returns__gt=0),
        holds=lambda row: row.open_returns > 0,
    ),
    WorkQueue(
        "stuck",
        gettext_lazy("Stuck work"),
        gettext_lazy("Events whose handling failed for good: replay them in failed event handling"),
        items=_stuck_items,
        url=_stuck_url,
        export_url=_stuck_export_url,
    ),
)

ENABLED = tuple(queue for queue in QUEUES if queue.enabled)
ROW_QUEUES = tuple(queue for queue in ENABLED if queue.of_rows)
OTHER_QUEUES = tuple(queue for queue in ENABLED if not queue.of_rows)


def queue_get(slug: str | None) -> WorkQueue | None:
    """The enabled queue of board rows named ``slug``, or None."""
    return next((queue for queue in ROW_QUEUES if queue.slug == slug), None)


def other_queue_get(slug: str | None) -> WorkQueue | None:
    """The enabled queue that is not board rows named ``slug`` (stuck work), or None."""
    return next((queue for queue in OTHER_QUEUES if queue.slug == slug), None)


def row_queues(row: TrackedOrder) -> list[str]:
    """The queues ``row`` is in, in declaration order (no query: the row's own fields)."""
    return [queue.slug for queue in ROW_QUEUES if queue.holds(row)]


def other_counts(*, shop_id: int | None) -> dict[str, int]:
    """The counts no push can tell (one query each), for heartbeats."""
    return {queue.slug: queue.items(shop_id).count() for queue in OTHER_QUEUES}
