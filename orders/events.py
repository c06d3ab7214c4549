"""What the orders context publishes: its public contract with the other contexts.

Every event of the order aggregate carries its facts, so a reader never asks back:

- ``status``: the order's status after the event, one of :class:`OrderStatus`; ``""`` when
  the event does not change it (an amendment, a parcel in transit);
- ``actor``: who caused it, as the order's transition history names it: ``system`` (the
  saga), ``staff:<username>``, ``shop-key:<key prefix>``, ``carrier:<code>``.

Both default to ``""``: events stored before these fields existed stay valid, and adding
an optional field needs no new version.
"""

from dataclasses import field
from datetime import datetime
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from pydantic.dataclasses import dataclass

from orderflow.events import Event

from .choices import OrderStatus

__all__ = [
    "CancelledLine",
    "OrderCancelled",
    "OrderConfirmed",
    "OrderCustomerChanged",
    "OrderPaid",
    "OrderPlaced",
    "OrderRejected",
    "OrderRemainderCancelled",
    "OrderShippingAddressChanged",
    "OrderStatus",
    "PlacedLine",
    "ReturnApproved",
    "ReturnClosed",
    "ReturnLineValue",
    "ReturnReceived",
    "ReturnRefunded",
    "ReturnRejected",
    "ReturnRequested",
    "ShipmentCancelled",
    "ShipmentDelivered",
    "ShipmentDeliveryFailed",
    "ShipmentDispatched",
    "ShipmentHeld",
    "ShipmentInTransit",
    "ShipmentIssueResolved",
    "ShipmentOutForDelivery",
    "ShipmentReturnedToSender",
    "ShippedLine",
    "ShippingAddress",
    "ShortLine",
    "StockReserved",
]


@dataclass(frozen=True, kw_only=True)
class PlacedLine:
    product_id: int
    sku: str
    quantity: int
    unit_price: Decimal
    #: the product's name when ordered (what pages and e-mails show); "" in older events
    name: str = ""
    #: pricing per line (orders.pricing); defaults so that events stored before them load
    discount_amount: Decimal = Decimal("0.00")
    #: after the discount, in the order's price basis; None in events stored before it
    line_total: Decimal | None = None
    tax_rate: Decimal = Decimal("0")
    tax_amount: Decimal = Decimal("0.00")


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(Event):
    """A shop placed an order, priced from its catalog; stock is not held yet."""

    type: ClassVar[str] = "order.placed"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    currency: str
    subtotal: Decimal
    total: Decimal
    customer_name: str
    customer_email: str
    lines: list[PlacedLine]
    status: str = ""
    actor: str = ""
    shop_name: str = ""
    tracking_token: str = ""
    #: the shop's own reference and key-value strings as it sent them, so that a webhook
    #: hands the shop its own reference back; optional, so events stored before them load
    external_reference: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    #: pricing (orders.pricing): amounts in the catalog's basis, tax included when
    #: ``prices_include_tax``; total = subtotal - discount_total + shipping_total (+ tax)
    discount_total: Decimal = Decimal("0.00")
    discount_codes: list[str] = field(default_factory=list)
    shipping_method: str = ""
    shipping_total: Decimal = Decimal("0.00")
    tax_total: Decimal = Decimal("0.00")
    prices_include_tax: bool = True
    #: what the customer reads ("en", "pt-BR"); blank in events stored before it
    customer_locale: str = ""
    #: how the money is taken: charge, capture_on_shipment or external (PaymentMode)
    payment_mode: str = "charge"
    #: the shop's contact address, for the customer's pages; "" in older events
    shop_email: str = ""


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(Event):
    """The order was cancelled before shipping: its stock is released, a capture is refunded."""

    type: ClassVar[str] = "order.cancelled"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    previous_status: str
    reason: str
    cancelled_by: str
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class CancelledLine:
    """Units of one order line that will not ship: the rest of a partly shipped order."""

    sku: str
    quantity: int
    #: the product's name when ordered (what pages and e-mails show)
    name: str = ""


@dataclass(frozen=True, kw_only=True)
class OrderRemainderCancelled(Event):
    """What had not shipped of a partly shipped order was cancelled; what left stays sent.

    The units' stock was released and their share of the payment given back in the same
    transaction (``refunded_amount``: 0 when nothing captured was left to give back;
    ``refund_id`` names the payments context's refund, whose ``payment.refunded`` follows
    with ``on_request`` false: this event's e-mail tells the customer). Shipping is not
    refunded. ``status`` is the order's after it: ``shipped``, or further on when its
    parcels already are (``out_for_delivery``, ``delivered``).
    """

    type: ClassVar[str] = "order.remainder_cancelled"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    lines: list[CancelledLine]
    reason: str
    refunded_amount: Decimal
    currency: str
    refund_id: UUID | None = None
    previous_status: str = ""
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class StockReserved(Event):
    """Every line's stock is held for the order: it may be charged now."""

    type: ClassVar[str] = "stock.reserved"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    total: Decimal
    currency: str
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ShortLine:
    sku: str
    requested: int
    available: int


@dataclass(frozen=True, kw_only=True)
class OrderRejected(Event):
    """The order could not be accepted (not enough stock); nothing was held or charged."""

    type: ClassVar[str] = "order.rejected"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    reason: str
    short_lines: list[ShortLine]
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class OrderPaid(Event):
    """The order's total is captured."""

    type: ClassVar[str] = "order.paid"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    payment_id: UUID
    amount: Decimal
    currency: str
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class OrderConfirmed(Event):
    """Stock held and payment captured: the order will be fulfilled."""

    type: ClassVar[str] = "order.confirmed"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    total: Decimal
    currency: str
    customer_name: str
    customer_email: str
    status: str = ""
    actor: str = ""
    #: when the order was placed: the placed -> confirmed latency metric reads it here
    placed_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ShippedLine:
    """Units of one order line in a parcel."""

    sku: str
    quantity: int
    #: the product's name when ordered (what pages and e-mails show)
    name: str = ""


@dataclass(frozen=True, kw_only=True)
class ShipmentDispatched(Event):
    """A parcel left the warehouse with a carrier; its lines' stock is consumed.

    ``status`` is ``partially_shipped`` while other units wait, ``shipped`` when this parcel
    took the last of them, ``""`` for a further parcel of an order already partly shipped.
    """

    type: ClassVar[str] = "shipment.dispatched"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    carrier: str
    tracking_number: str
    #: the parcel (``Shipment``) and what is in it; None and [] in events stored before
    #: an order could ship in several parcels (the one parcel held every line)
    shipment_id: UUID | None = None
    lines: list[ShippedLine] = field(default_factory=list)
    service: str = ""
    #: when the carrier expects to deliver, if it said
    eta: datetime | None = None
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ShipmentOutForDelivery(Event):
    """The carrier is on the way to the customer."""

    type: ClassVar[str] = "shipment.out_for_delivery"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    carrier: str
    tracking_number: str
    #: the parcel (``Shipment``) and what is in it; None and [] in events stored before
    #: an order could ship in several parcels (the one parcel held every line)
    shipment_id: UUID | None = None
    lines: list[ShippedLine] = field(default_factory=list)
    service: str = ""
    #: when the carrier expects to deliver, if it said
    eta: datetime | None = None
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ShipmentDelivered(Event):
    """The customer has the parcel; ``status`` is ``delivered`` once every parcel is."""

    type: ClassVar[str] = "shipment.delivered"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    carrier: str
    tracking_number: str
    #: the parcel (``Shipment``) and what is in it; None and [] in events stored before
    #: an order could ship in several parcels (the one parcel held every line)
    shipment_id: UUID | None = None
    lines: list[ShippedLine] = field(default_factory=list)
    service: str = ""
    #: when the carrier expects to deliver, if it said
    eta: datetime | None = None
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ShipmentInTransit(Event):
    """The carrier reported the parcel moving through its network; the status stays shipped."""

    type: ClassVar[str] = "shipment.in_transit"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    carrier: str
    tracking_number: str
    #: the parcel (``Shipment``) and what is in it; None and [] in events stored before
    #: an order could ship in several parcels (the one parcel held every line)
    shipment_id: UUID | None = None
    lines: list[ShippedLine] = field(default_factory=list)
    service: str = ""
    #: when the carrier expects to deliver, if it said
    eta: datetime | None = None
    location: str = ""
    note: str = ""
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ShipmentDeliveryFailed(Event):
    """The carrier could not hand the parcel over this time; it will try again."""

    type: ClassVar[str] = "shipment.delivery_failed"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    carrier: str
    tracking_number: str
    #: the parcel (``Shipment``) and what is in it; None and [] in events stored before
    #: an order could ship in several parcels (the one parcel held every line)
    shipment_id: UUID | None = None
    lines: list[ShippedLine] = field(default_factory=list)
    service: str = ""
    #: when the carrier expects to deliver, if it said
    eta: datetime | None = None
    location: str = ""
    note: str = ""
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ShipmentHeld(Event):
    """The carrier keeps the parcel (for collection, at customs, over an address problem).

    ``location`` and ``note`` say where and why, when the carrier said. The order's status
    does not change (``status`` is ""): the parcel may still move on, and be delivered.
    """

    type: ClassVar[str] = "shipment.held"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    carrier: str
    tracking_number: str
    #: the parcel (``Shipment``) and what is in it
    shipment_id: UUID | None = None
    lines: list[ShippedLine] = field(default_factory=list)
    service: str = ""
    #: when the carrier expects to deliver, if it said
    eta: datetime | None = None
    location: str = ""
    note: str = ""
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ShipmentReturnedToSender(Event):
    """The carrier sends the parcel back to the shop: final, the carrier reports no more.

    The order's status does not change (``status`` is ""): no status says "coming back",
    and what follows (a refund, a new parcel) is the shop's to decide.
    """

    type: ClassVar[str] = "shipment.returned_to_sender"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    carrier: str
    tracking_number: str
    #: the parcel (``Shipment``) and what is in it
    shipment_id: UUID | None = None
    lines: list[ShippedLine] = field(default_factory=list)
    service: str = ""
    #: when the carrier expects to deliver, if it said
    eta: datetime | None = None
    location: str = ""
    note: str = ""
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ShipmentCancelled(Event):
    """The carrier cancelled the parcel's shipment (its label voided): it never left, and
    the carrier reports no more about it.

    The order's status does not change (``status`` is ""): the parcel's units were taken
    from stock when it was shipped and still count as shipped in it; the shop sends them
    again by hand or refunds them (``lines`` says which). ``note`` is the carrier's words.
    """

    type: ClassVar[str] = "shipment.cancelled"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    carrier: str
    tracking_number: str
    #: the parcel (``Shipment``) and what is in it
    shipment_id: UUID | None = None
    lines: list[ShippedLine] = field(default_factory=list)
    service: str = ""
    eta: datetime | None = None
    location: str = ""
    note: str = ""
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ShipmentIssueResolved(Event):
    """Staff handled a parcel's delivery exception (a failed attempt, a hold, a return to
    the sender, a cancelled shipment): the shop has dealt with it, the parcel stays as the
    carrier left it.

    ``issue`` is the parcel's status that was handled, ``note`` what staff did about it. The
    order's status does not change (``status`` is ""). The carrier's next report on the
    parcel is its news again, bad news included.
    """

    type: ClassVar[str] = "shipment.issue_resolved"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    carrier: str
    tracking_number: str
    shipment_id: UUID
    lines: list[ShippedLine] = field(default_factory=list)
    service: str = ""
    eta: datetime | None = None
    issue: str
    note: str
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ShippingAddress:
    line1: str
    line2: str = ""
    city: str
    region: str = ""
    postal_code: str
    country: str


@dataclass(frozen=True, kw_only=True)
class OrderShippingAddressChanged(Event):
    """Staff changed where the order goes, before it shipped; the parcel goes there now."""

    type: ClassVar[str] = "order.shipping_address_changed"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    shipping_address: ShippingAddress
    changed_by: str
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class OrderCustomerChanged(Event):
    """Staff corrected the customer's name or e-mail; what is sent from now on goes there."""

    type: ClassVar[str] = "order.customer_changed"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    customer_name: str
    customer_email: str
    changed_by: str
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class RestockedLine:
    """Units of one order line put back on hand."""

    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class StockRestocked(Event):
    """Units of a shipped order came back on hand (a refund or a return chose to restock).

    ``key`` is the caller's (``refund:<id>``, ``return:<id>``): one event per key however
    often the restock is retried.
    """

    type: ClassVar[str] = "stock.restocked"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    key: str
    lines: list[RestockedLine]
    status: str = ""
    actor: str = ""


# --- returns: facts of the order's history, its status unchanged (``status`` is "") ---------
@dataclass(frozen=True, kw_only=True)
class ReturnLineValue:
    sku: str
    quantity: int
    #: the product's name when ordered (what e-mails and pages show)
    name: str = ""


@dataclass(frozen=True, kw_only=True)
class ReturnRequested(Event):
    """The customer asked to send back units of a shipped or delivered order."""

    type: ClassVar[str] = "return.requested"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    return_id: UUID
    return_number: int
    order_id: UUID
    shop_id: int
    number: str
    lines: list[ReturnLineValue]
    reason: str
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ReturnApproved(Event):
    """The shop accepts the return: the customer may send the units back."""

    type: ClassVar[str] = "return.approved"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    return_id: UUID
    return_number: int
    order_id: UUID
    shop_id: int
    number: str
    lines: list[ReturnLineValue]
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ReturnRejected(Event):
    """The shop refused the return, and says why; nothing comes back."""

    type: ClassVar[str] = "return.rejected"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    return_id: UUID
    return_number: int
    order_id: UUID
    shop_id: int
    number: str
    lines: list[ReturnLineValue]
    reason: str
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ReturnReceived(Event):
    """The returned units arrived at the shop; ``restocked``: they are back on hand."""

    type: ClassVar[str] = "return.received"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    return_id: UUID
    return_number: int
    order_id: UUID
    shop_id: int
    number: str
    lines: list[ReturnLineValue]
    restocked: bool
    status: str = ""
    actor: str = ""


@dataclass(frozen=True, kw_only=True)
class ReturnRefunded(Event):
    """The returned units' money went back; the customer's e-mail about it rides this event
    (the payments context's ``payment.refunded`` carries the refund itself, and its e-mail
    is not sent for a return's refund)."""

    type: ClassVar[str] = "return.refunded"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    return_id: UUID
    return_number: int
    order_id: UUID
    shop_id: int
    number: str
    amount: Decimal
    currency: str
    refund_id: UUID
    status: str = ""
    actor: str = ""
    #: the returned units (the customer's e-mail lists them; [] in events stored before)
    lines: list[ReturnLineValue] = field(default_factory=list)
    #: the number of the refund's credit note ("" when it has none, and in events before)
    credit_note: str = ""


@dataclass(frozen=True, kw_only=True)
class ReturnClosed(Event):
    """The received return was settled without a refund (repaired, replaced, goodwill)."""

    type: ClassVar[str] = "return.closed"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    return_id: UUID
    return_number: int
    order_id: UUID
    shop_id: int
    number: str
    reason: str
    status: str = ""
    actor: str = ""
