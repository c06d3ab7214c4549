"""What pages and sockets receive, as JSON-ready dicts: one shape per audience.

Public shapes are built from an allow-list of fields, never by removing private ones
from a staff shape, so that a field added later stays private until someone decides.
"""

from orderflow.url_paths import path_with
from orders.events import OrderStatus

from . import queues
from .choices import Milestone, TrackingSource
from .live_status import LiveStatus
from .models import TrackedOrder, TrackingEntry
from .reactions import OPEN_RETURN_STATUSES, customer_delivery_issue

#: what the customer and staff wait for next, by order status (the orders' vocabulary)
NEXT_STEPS = {
    OrderStatus.PLACED: "Checking stock",
    OrderStatus.RESERVED: "Taking payment",
    OrderStatus.PAID: "Confirming the order",
    OrderStatus.CONFIRMED: "Packing and handing to the carrier",
    OrderStatus.SHIPPED: "Out for delivery",
    OrderStatus.OUT_FOR_DELIVERY: "Delivery",
    OrderStatus.DELIVERED: "",
    OrderStatus.REJECTED: "",
    OrderStatus.CANCELLED: "",
}


def label(status: str) -> str:
    try:
        return Milestone(status).label
    except ValueError:
        return status.replace("_", " ").capitalize()


#: a delivery issue worded by a milestone of another name ("cancelled" alone is the order's)
_ISSUE_MILESTONES = {"cancelled": Milestone.PARCEL_CANCELLED}


def issue_label(issue: str) -> str:
    """The words of a row's delivery issue (``TrackedOrder.delivery_issue``); "" for none."""
    return label(_ISSUE_MILESTONES.get(issue, issue)) if issue else ""


def live_status_of(tracked: TrackedOrder) -> LiveStatus:
    return LiveStatus(
        status=tracked.status,
        sequence=tracked.sequence,
        updated_at=tracked.updated_at.isoformat(),
        next_step=NEXT_STEPS.get(tracked.status, ""),
    )


def live_status_payload(live: LiveStatus) -> dict:
    return {
        "status": live.status,
        "status_label": label(live.status),
        "sequence": live.sequence,
        "updated_at": live.updated_at,
        "next_step": live.next_step,
    }


def board_row(tracked: TrackedOrder) -> dict:
    return {
        "order_id": str(tracked.order_id),
        "number": tracked.number,
        "shop_id": tracked.shop_id,
        "shop_name": tracked.shop_name,
        "customer_name": tracked.customer_name,
        "customer_email": tracked.customer_email,
        "tracking_number": tracked.tracking_number,
        "total": str(tracked.total),
        "currency": tracked.currency,
        "status": tracked.status,
        "status_label": label(tracked.status),
        "sequence": tracked.sequence,
        "placed_at": tracked.placed_at.isoformat(),
        "updated_at": tracked.updated_at.isoformat(),
        "url": path_with("tracking:order", tracked.order_id),
        "delivery_issue": tracked.delivery_issue,
        "delivery_issue_label": issue_label(tracked.delivery_issue),
        #: the work queues the row is in: a page moves its queue counts by the push alone
        "queues": queues.row_queues(tracked),
        #: each return that still needs the shop (the returns queue lists them all)
        "returns": open_returns_of(tracked),
    }


def open_returns_of(tracked: TrackedOrder) -> list[dict]:
    """The row's open returns as the board shows them: ``R2 · Return approved``."""
    return [
        {
            "number": known["number"],
            "status": known["status"],
            "label": f"R{known['number']} · {label('return_' + known['status'])}",
        }
        for known in tracked.returns or []
        if known.get("status") in OPEN_RETURN_STATUSES
    ]


def staff_entry(entry: TrackingEntry) -> dict:
    return {
        "id": entry.pk,
        "status": entry.status,
        "label": label(entry.status),
        "aggregate": entry.aggregate,
        "sequence": entry.sequence,
        "occurred_at": entry.occurred_at.isoformat(),
        "source": entry.source,
        "actor": actor_label(entry.actor, source=entry.source),
        "note": entry.note,
        "location": entry.location,
        # the parcel a shipment step is about (None and "" for any other step)
        "shipment_id": str(entry.shipment_id) if entry.shipment_id else None,
        "tracking_number": entry.tracking_number,
    }


#: what the shops' API tells of a history entry: no staff member's name
SHOP_ENTRY_FIELDS = (
    "id", "status", "label", "aggregate", "sequence", "occurred_at", "source", "note", "location",
    "shipment_id", "tracking_number",
)  # fmt: skip


def shop_entry(entry: TrackingEntry) -> dict:
    """A history entry as the shop's API shows it (an allow-list of the staff shape)."""
    staff = staff_entry(entry)
    return {name: staff[name] for name in SHOP_ENTRY_FIELDS}


#: how an actor's kind reads on the staff timeline
ACTOR_KINDS = {"staff": "Staff", "shop-key": "Shop key", "carrier": "Carrier"}


def actor_label(actor: str, *, source: str) -> str:
    """Name who acted for staff: ``Staff admin``, ``Shop key ab12cd34``, ``Carrier demo-post``,
    ``System``; an entry whose event did not say is named by its source (``Shop``)."""
    kind, _, name = (actor or "").partition(":")
    if kind in ACTOR_KINDS and name:
        return f"{ACTOR_KINDS[kind]} {name}"
    if kind == "system":
        return "System"
    try:
        return TrackingSource(source).label
    except ValueError:
        return source.capitalize()


def public_entry(entry: TrackingEntry) -> dict:
    """A step as the customer sees it: only the carrier's own words are shown."""
    by_carrier = entry.source == TrackingSource.CARRIER
    return {
        "status": entry.status,
        "label": label(entry.status),
        "sequence": entry.sequence,
        "occurred_at": entry.occurred_at.isoformat(),
        "location": entry.location if by_carrier else "",
        "note": entry.note if by_carrier else "",
    }


def public_order(tracked: TrackedOrder, live: LiveStatus) -> dict:
    """The order as its customer's page tells it (``public_page`` words it): the customer's
    own order, never a staff note, a payment reference or another order's data."""
    return {
        "number": tracked.number,
        "shop_name": tracked.shop_name,
        "shop_email": tracked.shop_email,
        "locale": tracked.customer_locale,
        "items": tracked.items,
        "total": str(tracked.total),
        "currency": tracked.currency,
        "carrier": tracked.carrier,
        "tracking_number": tracked.tracking_number,
        "outcome": _public_outcome(tracked.outcome),
        # what the carrier did, whether or not staff have handled it since
        "delivery_issue": customer_delivery_issue(tracked.delivery_issue, tracked.parcels or []),
        "refunded_amount": str(tracked.refunded_amount),
        "refunded_at": tracked.refunded_at.isoformat() if tracked.refunded_at else "",
        "return_status": tracked.return_status,
        "returns": [_public_return(known) for known in tracked.returns or []],
        "parcels": [_public_parcel(parcel) for parcel in tracked.parcels or []],
        **live_status_payload(live),
    }


#: the public shapes' fields, and all of them: ``public_order`` and ``public_entry`` build
#: exactly these (a test holds it), and the public socket cuts every push it forwards to them
PUBLIC_ENTRY_FIELDS = ("status", "label", "sequence", "occurred_at", "location", "note")
PUBLIC_ORDER_FIELDS = (
    "number", "shop_name", "shop_email", "locale", "items", "total", "currency", "outcome",
    "delivery_issue", "refunded_amount", "refunded_at", "return_status", "returns", "parcels",
    "carrier", "tracking_number", "status", "status_label", "sequence", "updated_at",
    "next_step",
)  # fmt: skip


def public_only(*, order: dict, entries: list[dict]) -> tuple[dict, list[dict]]:
    """``order`` and ``entries`` cut to the public fields: applied once more where a push
    reaches a customer's socket, so a message sent to the wrong group shows nothing private."""
    return (
        {key: order.get(key, "") for key in PUBLIC_ORDER_FIELDS},
        [{key: entry.get(key, "") for key in PUBLIC_ENTRY_FIELDS} for entry in entries],
    )


def _public_parcel(parcel: dict) -> dict:
    """A parcel as its customer sees it: no shipment id (the page needs none)."""
    return {
        "carrier": parcel.get("carrier", ""),
        "tracking_number": parcel.get("tracking_number", ""),
        "status": parcel.get("status", ""),
        "lines": [
            {"name": line.get("name") or line["sku"], "quantity": line["quantity"]}
            for line in parcel.get("lines") or []
        ],
        "eta": parcel.get("eta", ""),
    }


def _public_return(known: dict) -> dict:
    """A return as its customer sees it: its number, where it stands and what it holds, and
    why it was not accepted (the reason was written for the customer)."""
    return {
        "number": known.get("number", 0),
        "status": known.get("status", ""),
        "lines": [
            {"name": line.get("name") or line["sku"], "quantity": line["quantity"]}
            for line in known.get("lines") or []
        ],
        **({"reason": known["reason"]} if known.get("reason") else {}),
    }


def _public_outcome(outcome: dict) -> dict:
    kept = ("cause", "reason", "short_items", "charged")
    return {key: outcome[key] for key in kept if key in outcome}
