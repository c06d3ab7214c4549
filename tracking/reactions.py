"""What each event becomes in an order's history: one readable table instead of a handler each.

An event type maps to a ``Reaction``: the milestone it records, who it counts as the
source of, the note staff read, whether the customer sees it, and which of its facts
the order's tracking row takes. The status an order event leads to is the event's own
``status`` fact (the orders context publishes it); ``legacy_status`` only serves events
stored before that fact existed.

Reactions read the stored JSON payload (``FeedEvent.data``): building the pydantic event
for each of a batch's events would cost more than recording it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orders.events import OrderStatus

from .choices import PRIVATE_MILESTONES, Milestone, TrackingSource

Data = Mapping[str, Any]

#: how an actor recorded by the orders context (``staff:ana``) reads as a source
SOURCES_BY_ACTOR_KIND = {
    "staff": TrackingSource.STAFF,
    "shop-key": TrackingSource.SHOP,
    "carrier": TrackingSource.CARRIER,
}


def source_of_actor(actor: str) -> str:
    kind = (actor or "system").split(":", 1)[0]
    return SOURCES_BY_ACTOR_KIND.get(kind, TrackingSource.SYSTEM)


def _nothing(data: Data) -> str:
    return ""


def _reason(data: Data) -> str:
    return data.get("reason", "")


def _carrier_note(data: Data) -> str:
    return data.get("note", "")


def _placed_note(data: Data) -> str:
    lines = sum(int(line["quantity"]) for line in data.get("lines", ()))
    return f"{lines} item{'s' if lines != 1 else ''}, {data['total']} {data['currency']}"


def _handed_note(data: Data) -> str:
    return f"Handed to {data['carrier']}, tracking number {data['tracking_number']}"


def _address_note(data: Data) -> str:
    # staff see the new address; the public page shows a step's note only for carriers
    address = data["shipping_address"]
    parts = (
        address.get("line1", ""),
        address.get("line2", ""),
        f"{address.get('postal_code', '')} {address.get('city', '')}",
        address.get("region", ""),
        address.get("country", ""),
    )
    return ", ".join(part for part in parts if part)


def _customer_note(data: Data) -> str:
    return f"{data['customer_name']} <{data['customer_email']}>"


def _captured_note(data: Data) -> str:
    return f"{data['amount']} {data['currency']} captured ({data['gateway_reference']})"


def _failed_note(data: Data) -> str:
    code = data.get("decline_code", "")
    return f"{data['reason']} ({code})" if code else data["reason"]


def _refunded_note(data: Data) -> str:
    return f"{data['amount']} {data['currency']} refunded: {data['reason']}"


def _return_lines(data: Data) -> str:
    return ", ".join(f"{line['quantity']} x {line['sku']}" for line in data.get("lines") or ())


def _return_note(data: Data) -> str:
    number = f"R{data.get('return_number', '')}"
    if "amount" in data:
        return f"{number}: {data['amount']} {data['currency']} refunded"
    details = [
        _return_lines(data),
        *(("restocked" if data["restocked"] else "not restocked",) if "restocked" in data else ()),
        data.get("reason", ""),
    ]
    return f"{number}: {'; '.join(part for part in details if part)}"


def _remainder_note(data: Data) -> str:
    """Staff read what will not ship, the money given back and why."""
    parts = [
        f"Not shipped, cancelled: {_return_lines(data)}",
        f"{data['refunded_amount']} {data['currency']} refunded",
        data.get("reason", ""),
    ]
    return "; ".join(part for part in parts if part)


def _restocked_note(data: Data) -> str:
    return f"{_return_lines(data)} back on hand ({data.get('key', '')})"


#: the fact a return event gives its order's row: that return's number, status and lines
#: (``TrackedOrder.returns``, merged by ``merge_return``)
RETURN = "return"
#: where a return still needs the shop: to approve or reject it, to receive the parcel, to
#: refund or close it
OPEN_RETURN_STATUSES = ("requested", "approved", "received")


def _return_facts(status: str) -> Callable[[Data], dict[str, Any]]:
    """Where the order's latest return stands (``return_status``), and this return's own
    status and lines: an order may have several returns, the pages show each. A rejection
    keeps its reason, written for the customer (the staff's or support's words)."""
    return lambda data: {
        "return_status": status,
        RETURN: {
            "number": data.get("return_number", 0),
            "status": status,
            "lines": [
                {
                    "sku": line["sku"],
                    "name": line.get("name") or line["sku"],
                    "quantity": line["quantity"],
                }
                for line in data.get("lines") or ()
            ],
            **({"reason": data.get("reason", "")} if status == "rejected" else {}),
        },
    }


def merge_return(returns: list[dict[str, Any]], found: dict[str, Any]) -> list[dict[str, Any]]:
    """The row's returns with ``found`` put in its place (a new one in number order); its
    lines are kept when an event does not repeat them (``return.closed`` names none)."""
    merged = [
        {**known, **found, "lines": found["lines"] or known.get("lines", [])}
        if known.get("number") == found["number"]
        else known
        for known in returns
    ]
    if not any(known.get("number") == found["number"] for known in returns):
        merged.append(found)
    return sorted(merged, key=lambda known: known.get("number") or 0)


def open_returns(returns: list[dict[str, Any]]) -> int:
    """How many of the row's returns still need the shop."""
    return sum(1 for known in returns if known.get("status") in OPEN_RETURN_STATUSES)


def _no_facts(data: Data) -> dict[str, Any]:
    return {}


#: a cancellation the saga made because the payment failed says so in its reason
PAYMENT_FAILED_PREFIX = "Payment failed: "


def _rejected_facts(data: Data) -> dict[str, Any]:
    short = [
        {"sku": line["sku"], "requested": line["requested"], "available": line["available"]}
        for line in data.get("short_lines") or ()
    ]
    return {
        "outcome": {
            "cause": "stock" if short else "shop",
            "reason": data.get("reason", "")[:500],
            "short_items": short,
            "charged": False,
        }
    }


def _cancelled_facts(data: Data) -> dict[str, Any]:
    reason = data.get("reason", "")
    by_payment = data.get("cancelled_by") == "system" and reason.startswith(PAYMENT_FAILED_PREFIX)
    return {
        "outcome": {
            "cause": "payment" if by_payment else "shop",
            "reason": (reason.removeprefix(PAYMENT_FAILED_PREFIX) if by_payment else reason)[:500],
            "short_items": [],
            # the payments context refunds a captured payment of a cancelled order
            "charged": data.get("previous_status") in (OrderStatus.PAID, OrderStatus.CONFIRMED),
        }
    }


#: the parcel's status after each shipment event (``orders`` ShipmentStatus)
PARCEL_STATUS = {
    "shipment.dispatched": "in_transit",
    "shipment.in_transit": "in_transit",
    "shipment.out_for_delivery": "out_for_delivery",
    "shipment.delivery_failed": "delivery_failed",
    "shipment.held": "held",
    "shipment.returned_to_sender": "returned_to_sender",
    "shipment.cancelled": "cancelled",
    "shipment.delivered": "delivered",
}
#: the tracked fact that names one parcel: merged into the row's ``parcels`` by its id
PARCEL = "parcel"
#: the tracked fact that names the parcel whose delivery exception staff handled
RESOLVED_PARCEL = "resolved_parcel"
#: the events whose entry is about one parcel
PARCEL_EVENTS = frozenset({*PARCEL_STATUS, "shipment.issue_resolved"})


def parcel_fact(event_type: str, data: Data) -> dict[str, Any]:
    """The parcel a shipment event names, as the row's ``parcels`` keep it; {} for an event
    stored before events named their parcel (``shipment_id``)."""
    if not data.get("shipment_id"):
        return {}
    return {
        PARCEL: {
            "id": str(data["shipment_id"]),
            "carrier": data.get("carrier", ""),
            "tracking_number": data.get("tracking_number", ""),
            "status": PARCEL_STATUS[event_type],
            "lines": [
                {"sku": line["sku"], "name": line.get("name", ""), "quantity": line["quantity"]}
                for line in data.get("lines") or ()
            ],
            "eta": data.get("eta") or "",
        }
    }


def _delivery_issue(issue: str) -> Callable[[Data], dict[str, Any]]:
    """The customer's page and the delivery-exceptions queue tell the carrier's bad news."""
    return lambda data: {"delivery_issue": issue}


def _issue_resolved_facts(data: Data) -> dict[str, Any]:
    """Staff handled the parcel's bad news: it no longer counts for the row's delivery issue
    (the row's issue then follows its other parcels, ``delivery_issue_of``)."""
    return {"delivery_issue": "", RESOLVED_PARCEL: str(data["shipment_id"])}


def _parcel_moving_facts(data: Data) -> dict[str, Any]:
    """Good news from the carrier ends a failed attempt's story (of that parcel: the row's
    issue then follows its other parcels, ``delivery_issue_of``)."""
    return {"delivery_issue": ""}


#: the carrier's bad news a row tells, the gravest first: a parcel that never left or is going
#: back needs the shop, a missed delivery a new attempt, a held parcel a collection
DELIVERY_ISSUES = ("cancelled", "returned_to_sender", "delivery_failed", "held")


def delivery_issue_of(parcels: list[dict[str, Any]], *, news: str) -> str:
    """The order's delivery issue after one parcel's news: that parcel's bad news (``news``),
    else the gravest of its other parcels still in trouble; "" only when none is.

    A second parcel leaving, or one delivered, says nothing about the first one held or on
    its way back: the customer's page and the delivery-exceptions queue keep telling it.
    """
    if news:
        return news
    statuses = {parcel.get("status") for parcel in parcels if not parcel.get("issue_resolved")}
    return next((issue for issue in DELIVERY_ISSUES if issue in statuses), "")


def customer_delivery_issue(delivery_issue: str, parcels: list[dict[str, Any]]) -> str:
    """The carrier's bad news the customer's page tells: the row's, else the gravest of a
    parcel staff marked handled that the carrier still holds or sends back. The mark takes
    the order off staff's queue; it changes nothing the carrier did with the parcel, and the
    carrier's next good news ends it (``merge_parcel``)."""
    if delivery_issue:
        return delivery_issue
    statuses = {parcel.get("status") for parcel in parcels if parcel.get("issue_resolved")}
    return next((issue for issue in DELIVERY_ISSUES if issue in statuses), "")


def resolve_parcel(parcels: list[dict[str, Any]], shipment_id: str) -> list[dict[str, Any]]:
    """The row's parcels with ``shipment_id``'s delivery exception marked handled (a parcel
    the row does not know stays unknown: the mark is no parcel of its own)."""
    return [
        {**parcel, "issue_resolved": True} if parcel.get("id") == shipment_id else parcel
        for parcel in parcels
    ]


def merge_parcel(parcels: list[dict[str, Any]], parcel: dict[str, Any]) -> list[dict[str, Any]]:
    """The row's parcels with ``parcel`` put in its place (a new one last); its lines and
    ETA are kept when an event does not repeat them. The carrier's news is the parcel's
    again: a delivery exception staff marked handled (``resolve_parcel``) is forgotten."""
    merged, found = [], False
    for known in parcels:
        if known.get("id") == parcel["id"]:
            found = True
            known = {
                **{name: value for name, value in known.items() if name != "issue_resolved"},
                **parcel,
                "lines": parcel["lines"] or known.get("lines", []),
                "eta": parcel["eta"] or known.get("eta", ""),
            }
        merged.append(known)
    return merged if found else [*merged, parcel]


def _is_credit_note(data: Data) -> bool:
    return data.get("kind") == "credit_note"


def _invoice_milestone(data: Data) -> str:
    return Milestone.CREDIT_NOTE_ISSUED if _is_credit_note(data) else Milestone.INVOICE_ISSUED


def _invoice_note(data: Data) -> str:
    paper = "Credit note" if _is_credit_note(data) else "Invoice"
    return f"{paper} {data['number']}, {data['total']} {data['currency']}"


@dataclass(frozen=True)
class Reaction:
    #: what happened; a function of the payload where the event type alone does not say
    milestone: str | Callable[[Data], str]
    #: a fixed source, or None: the source is who the event says acted (its ``actor``)
    source: str | None = TrackingSource.SYSTEM
    note: Callable[[Data], str] = _nothing
    #: the event's ``location`` fact is kept (a carrier's scan)
    location: bool = False
    #: facts the order's tracking row takes when the event moves it (``carrier``…)
    tracked_fields: tuple[str, ...] = ()
    #: the status an event stored before the ``status`` fact existed leads to
    legacy_status: str = ""
    #: what the customer's page says that the event changes (``outcome``, ``delivery_issue``),
    #: taken with the tracked fields when the event moves the order
    page_facts: Callable[[Data], dict[str, Any]] = _no_facts

    def milestone_of(self, data: Data) -> str:
        return self.milestone(data) if callable(self.milestone) else self.milestone


ACTOR = None  # a Reaction's source: who the event says acted


def _dispatched_milestone(data: Data) -> str:
    """A parcel that leaves units in the warehouse hands over part of the order only."""
    if data.get("status") == OrderStatus.PARTIALLY_SHIPPED:
        return Milestone.PARTIALLY_SHIPPED
    return Milestone.SHIPPED


def _delivered_milestone(data: Data) -> str:
    """A parcel delivered while the order is not (its ``status`` fact is "": the order
    stays, its other parcels on their way or units still to leave) is that parcel's step,
    not the order's delivery. An event stored before the ``status`` fact delivered the
    order's one parcel."""
    if "status" in data and data["status"] != OrderStatus.DELIVERED:
        return Milestone.PARCEL_DELIVERED
    return Milestone.DELIVERED


REACTIONS: dict[str, Reaction] = {
    # --- the order's own events: ordered, they move the live status ----------------------
    "order.placed": Reaction(
        Milestone.PLACED, TrackingSource.SHOP, _placed_note, legacy_status=OrderStatus.PLACED
    ),
    "stock.reserved": Reaction(Milestone.RESERVED, legacy_status=OrderStatus.RESERVED),
    "order.rejected": Reaction(
        Milestone.REJECTED,
        note=_reason,
        legacy_status=OrderStatus.REJECTED,
        page_facts=_rejected_facts,
    ),
    "order.paid": Reaction(Milestone.PAID, legacy_status=OrderStatus.PAID),
    "order.confirmed": Reaction(Milestone.CONFIRMED, legacy_status=OrderStatus.CONFIRMED),
    "order.cancelled": Reaction(
        Milestone.CANCELLED,
        ACTOR,
        _reason,
        legacy_status=OrderStatus.CANCELLED,
        page_facts=_cancelled_facts,
    ),
    "order.remainder_cancelled": Reaction(
        Milestone.REMAINDER_CANCELLED, ACTOR, _remainder_note, legacy_status=OrderStatus.SHIPPED
    ),
    "shipment.dispatched": Reaction(
        _dispatched_milestone,
        ACTOR,
        _handed_note,
        tracked_fields=("carrier", "tracking_number"),
        legacy_status=OrderStatus.SHIPPED,
        page_facts=_parcel_moving_facts,
    ),
    "shipment.in_transit": Reaction(
        Milestone.IN_TRANSIT,
        TrackingSource.CARRIER,
        _carrier_note,
        location=True,
        page_facts=_parcel_moving_facts,
    ),
    "shipment.out_for_delivery": Reaction(
        Milestone.OUT_FOR_DELIVERY,
        ACTOR,
        legacy_status=OrderStatus.OUT_FOR_DELIVERY,
        page_facts=_parcel_moving_facts,
    ),
    "shipment.delivery_failed": Reaction(
        Milestone.DELIVERY_FAILED,
        TrackingSource.CARRIER,
        _carrier_note,
        location=True,
        page_facts=_delivery_issue("delivery_failed"),
    ),
    "shipment.held": Reaction(
        Milestone.HELD,
        TrackingSource.CARRIER,
        _carrier_note,
        location=True,
        page_facts=_delivery_issue("held"),
    ),
    "shipment.returned_to_sender": Reaction(
        Milestone.RETURNED_TO_SENDER,
        TrackingSource.CARRIER,
        _carrier_note,
        location=True,
        page_facts=_delivery_issue("returned_to_sender"),
    ),
    "shipment.cancelled": Reaction(
        Milestone.PARCEL_CANCELLED,
        TrackingSource.CARRIER,
        _carrier_note,
        location=True,
        page_facts=_delivery_issue("cancelled"),
    ),
    "shipment.delivered": Reaction(
        _delivered_milestone,
        ACTOR,
        legacy_status=OrderStatus.DELIVERED,
        page_facts=_parcel_moving_facts,
    ),
    "shipment.issue_resolved": Reaction(
        Milestone.DELIVERY_ISSUE_RESOLVED, ACTOR, _carrier_note, page_facts=_issue_resolved_facts
    ),
    "order.shipping_address_changed": Reaction(
        Milestone.SHIPPING_ADDRESS_CHANGED, ACTOR, _address_note
    ),
    "order.customer_changed": Reaction(
        Milestone.CUSTOMER_CHANGED,
        ACTOR,
        _customer_note,
        tracked_fields=("customer_name", "customer_email"),
    ),
    # --- a return: the order's status stays, the customer's page says where it stands -----
    "return.requested": Reaction(
        Milestone.RETURN_REQUESTED, ACTOR, _return_note, page_facts=_return_facts("requested")
    ),
    "return.approved": Reaction(
        Milestone.RETURN_APPROVED, ACTOR, _return_note, page_facts=_return_facts("approved")
    ),
    "return.rejected": Reaction(
        Milestone.RETURN_REJECTED, ACTOR, _return_note, page_facts=_return_facts("rejected")
    ),
    "return.received": Reaction(
        Milestone.RETURN_RECEIVED, ACTOR, _return_note, page_facts=_return_facts("received")
    ),
    "return.refunded": Reaction(
        Milestone.RETURN_REFUNDED, ACTOR, _return_note, page_facts=_return_facts("refunded")
    ),
    "return.closed": Reaction(
        Milestone.RETURN_CLOSED, ACTOR, _return_note, page_facts=_return_facts("closed")
    ),
    # --- money and paperwork: history only, shown to staff --------------------------------
    "payment.captured": Reaction(Milestone.PAYMENT_CAPTURED, note=_captured_note),
    "payment.failed": Reaction(Milestone.PAYMENT_FAILED, note=_failed_note),
    "payment.refunded": Reaction(Milestone.PAYMENT_REFUNDED, note=_refunded_note),
    "invoice.issued": Reaction(_invoice_milestone, note=_invoice_note),
    "stock.restocked": Reaction(Milestone.RESTOCKED, ACTOR, _restocked_note),
}


@dataclass(frozen=True)
class EntryRow:
    """One history entry an event makes, and what it does to the order's tracking row."""

    event_id: str
    position: int
    order_id: str
    shop_id: int
    event_type: str
    aggregate: str
    sequence: int
    occurred_at: datetime
    milestone: str
    source: str
    #: who acted, as the event names them ("" when it does not say)
    actor: str
    note: str
    location: str
    public: bool
    #: the order status after the event ("" when it stays)
    status: str
    #: facts the tracking row takes when the event moves it (``carrier``, ``outcome``…)
    tracked: tuple[tuple[str, Any], ...]
    #: the parcel a shipment event is about: its id ("" before events named it) and number
    shipment_id: str = ""
    tracking_number: str = ""

    @property
    def moves_status(self) -> bool:
        """An order event: it moves the live status if newer than the last one applied."""
        return self.aggregate == "order"


def status_of(reaction: Reaction, data: Data) -> str:
    """The order status after the event: its ``status`` fact, or the legacy table's."""
    if "status" in data:
        return data["status"] or ""
    return reaction.legacy_status


def actor_of(data: Data) -> str | None:
    """Who the event says acted; None when an older event does not say."""
    actor = data.get("actor") or data.get("changed_by")
    return actor or None


def entry_row(event, *, actor_lookup: Callable[[str, str], str | None]) -> EntryRow:
    """The entry ``event`` (a ``FeedEvent``) makes; ``actor_lookup(order_id, status)`` asks
    the orders context who acted, for an event stored before the ``actor`` fact existed."""
    data = event.data
    reaction = REACTIONS[event.type]
    milestone = reaction.milestone_of(data)
    status = status_of(reaction, data)
    source = reaction.source
    actor = actor_of(data)
    if source is None:
        if actor is None:
            actor = actor_lookup(str(data["order_id"]), status)
        source = source_of_actor(actor or "")
    return EntryRow(
        event_id=str(event.event_id),
        position=event.position,
        order_id=str(data["order_id"]),
        shop_id=int(data["shop_id"]),
        event_type=event.type,
        aggregate=event.aggregate,
        sequence=event.sequence,
        occurred_at=event.occurred_at,
        milestone=milestone,
        source=source,
        actor=(actor or "")[:200],
        note=reaction.note(data)[:500],
        location=(data.get("location", "") if reaction.location else "")[:200],
        public=milestone not in PRIVATE_MILESTONES,
        status=status,
        tracked=(
            *((name, str(data.get(name, ""))) for name in reaction.tracked_fields),
            *reaction.page_facts(data).items(),
            *(parcel_fact(event.type, data).items() if event.type in PARCEL_STATUS else ()),
        ),
        **(_parcel_of(data) if event.type in PARCEL_EVENTS else {}),
    )


def _parcel_of(data: Data) -> dict[str, str]:
    """Which parcel a shipment event's entry is about, as its data names it."""
    return {
        "shipment_id": str(data.get("shipment_id") or ""),
        "tracking_number": str(data.get("tracking_number") or "")[:64],
    }
