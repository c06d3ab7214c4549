"""A small read surface of the orders context for the others: plain frozen values only."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import connection

from . import permissions, repository, state_machine
from .choices import OrderStatus, ReturnStatus, ShipmentStatus
from .exceptions import RestockNotPossible as RestockNotPossible  # raised by stock_restock*
from .models import Order, OrderLine, OrderTransition, Return, Shop
from .models.returns import RETURNABLE_STATUSES
from .models.shipments import DELIVERY_EXCEPTIONS
from .services import stock
from .services.amendments import ADDRESS_CHANGEABLE


@dataclass(frozen=True)
class PaymentRequest:
    order_id: UUID
    shop_id: int
    number: str
    status: str
    amount: Decimal
    currency: str
    token: str
    #: how the money is taken (``orders.choices.PaymentMode``: charge, capture_on_shipment,
    #: external) and, for a payment the shop took itself, its reference
    mode: str = "charge"
    reference: str = ""


@dataclass(frozen=True)
class Party:
    name: str
    email: str
    address: str
    legal_name: str = ""
    tax_id: str = ""


@dataclass(frozen=True)
class OrderLineValue:
    """One line of an order, as every other context sees it."""

    sku: str
    name: str
    unit_price: Decimal
    quantity: int
    line_total: Decimal
    discount_amount: Decimal = Decimal("0.00")
    tax_rate: Decimal = Decimal("0")
    tax_amount: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class ShipmentValue:
    """One parcel of an order: what staff pages list."""

    shipment_id: UUID
    carrier: str
    service: str
    tracking_number: str
    status: str
    status_label: str
    #: ``(sku, quantity)`` of each line in the parcel
    lines: tuple[tuple[str, int], ...]
    eta: datetime | None
    created_at: datetime
    #: the carrier's bad news (a failed attempt, a hold, a return, a cancellation) that no
    #: one has marked handled since: staff may mark it (``parcel_issues``)
    issue_open: bool = False


@dataclass(frozen=True)
class InvoiceDetails:
    """An order's invoice facts; amounts in its price basis (``prices_include_tax``)."""

    order_id: UUID
    order_number: str
    shop_id: int
    currency: str
    subtotal: Decimal
    seller: Party
    buyer: Party
    lines: tuple[OrderLineValue, ...]
    total: Decimal
    prices_include_tax: bool
    discount_total: Decimal
    shipping_name: str
    shipping_total: Decimal
    shipping_tax_rate: Decimal
    shipping_tax: Decimal
    tax_total: Decimal


def order_payment_request(*, order_id: UUID) -> PaymentRequest:
    """What the payments context needs to charge an order (raises Order.DoesNotExist)."""
    row = repository.order_payment_row(order_id)
    if row is None:
        raise Order.DoesNotExist(f"Order {order_id} does not exist.")
    shop_id, number, status, total, currency, token, mode, reference = row
    return PaymentRequest(
        order_id=order_id,
        shop_id=shop_id,
        number=number,
        status=status,
        amount=total,
        currency=currency,
        token=token,
        mode=mode,
        reference=reference,
    )


def order_invoice_details(*, order_id: UUID) -> InvoiceDetails:
    """What an invoice of the order shows (raises Order.DoesNotExist)."""
    if connection.vendor == "postgresql":
        return _invoice_details_from_row(order_id)
    order = Order.objects.select_related("shop").prefetch_related("lines").get(pk=order_id)
    shop: Shop = order.shop
    return InvoiceDetails(
        order_id=order.id,
        order_number=order.number,
        shop_id=shop.pk,
        currency=order.currency,
        subtotal=order.subtotal,
        total=order.total,
        prices_include_tax=order.prices_include_tax,
        discount_total=order.discount_total,
        shipping_name=order.shipping_method_name,
        shipping_total=order.shipping_total,
        shipping_tax_rate=order.shipping_tax_rate,
        shipping_tax=order.shipping_tax,
        tax_total=order.tax_total,
        seller=Party(
            name=shop.name,
            email=shop.contact_email,
            address=shop.address,
            legal_name=shop.legal_name or shop.name,
            tax_id=shop.tax_id,
        ),
        buyer=Party(
            name=order.customer_name,
            email=order.customer_email,
            address="\n".join(_address_lines(order.shipping_address)),
        ),
        lines=_line_values(order),
    )


def _invoice_details_from_row(order_id: UUID) -> InvoiceDetails:
    row = repository.order_invoice_row(order_id)
    if row is None:
        raise Order.DoesNotExist(f"Order {order_id} does not exist.")
    (
        order_id,
        number,
        shop_id,
        currency,
        subtotal,
        customer_name,
        customer_email,
        shipping_address,
        tax_rate,
        shop_name,
        contact_email,
        address,
        legal_name,
        tax_id,
        lines,
        total,
        prices_include_tax,
        discount_total,
        shipping_name,
        shipping_total,
        shipping_tax_rate,
        shipping_tax,
        tax_total,
    ) = row
    del tax_rate  # the shop's standard rate: each line carries its own
    if isinstance(shipping_address, str):  # jsonb arrives as text on Django's connection
        shipping_address = json.loads(shipping_address)
    return InvoiceDetails(
        order_id=order_id,
        order_number=number,
        shop_id=shop_id,
        currency=currency,
        subtotal=subtotal,
        total=total,
        prices_include_tax=prices_include_tax,
        discount_total=discount_total,
        shipping_name=shipping_name,
        shipping_total=shipping_total,
        shipping_tax_rate=shipping_tax_rate,
        shipping_tax=shipping_tax,
        tax_total=tax_total,
        seller=Party(
            name=shop_name,
            email=contact_email,
            address=address,
            legal_name=legal_name or shop_name,
            tax_id=tax_id,
        ),
        buyer=Party(
            name=customer_name,
            email=customer_email,
            address="\n".join(_address_lines(shipping_address)),
        ),
        lines=tuple(
            OrderLineValue(
                sku=line["sku"],
                name=line["name"],
                unit_price=Decimal(line["unit_price"]),
                quantity=line["quantity"],
                line_total=Decimal(line["line_total"]),
                discount_amount=Decimal(line["discount_amount"]),
                tax_rate=Decimal(line["tax_rate"]),
                tax_amount=Decimal(line["tax_amount"]),
            )
            for line in lines
        ),
    )


def order_status(*, order_id: UUID) -> str | None:
    return Order.objects.filter(pk=order_id).values_list("status", flat=True).first()


# --- for tracking: the live board, the order page and the public tracking page -------------
@dataclass(frozen=True)
class OrderTrackingDetails:
    """What the tracking context keeps about an order beside its history."""

    order_id: UUID
    shop_id: int
    shop_name: str
    number: str
    status: str
    customer_name: str
    customer_email: str
    total: Decimal
    currency: str
    tracking_token: str
    carrier: str
    tracking_number: str
    created_at: datetime
    #: what the customer's pages and e-mails show beside the history (as ``OrderPageFacts``)
    customer_locale: str = ""
    shop_email: str = ""
    #: ``(sku, name, quantity)`` of each line
    items: tuple[tuple[str, str, int], ...] = ()


@dataclass(frozen=True)
class OrderDetails:
    """An order as staff see it on the order page."""

    order_id: UUID
    shop_id: int
    shop_name: str
    number: str
    status: str
    status_label: str
    status_reason: str
    allowed_actions: tuple[str, ...]
    customer_name: str
    customer_email: str
    shipping_address: tuple[str, ...]
    currency: str
    subtotal: Decimal
    total: Decimal
    lines: tuple[OrderLineValue, ...]
    carrier: str
    tracking_number: str
    tracking_token: str
    created_at: datetime
    #: the order's parcels, oldest first
    shipments: tuple[ShipmentValue, ...] = ()


def order_tracking_details(
    *, order_id: UUID | None = None, token: str | None = None
) -> OrderTrackingDetails | None:
    """The order ``order_id`` (or its tracking ``token``) as tracking keeps it, in two
    queries (the order with its shop, its lines); None if there is none."""
    if (order_id is None) == (token is None):
        raise TypeError("order_tracking_details() takes order_id or token")
    found = Order.objects.select_related("shop").prefetch_related("lines").order_by()
    if order_id is not None:
        found = found.filter(pk=order_id)
    else:
        found = found.filter(tracking_token=token)
    order = next(iter(found[:1]), None)
    if order is None:
        return None
    return OrderTrackingDetails(
        order_id=order.id,
        shop_id=order.shop_id,
        shop_name=order.shop.name,
        number=order.number,
        status=order.status,
        customer_name=order.customer_name,
        customer_email=order.customer_email,
        total=order.total,
        currency=order.currency,
        tracking_token=order.tracking_token,
        carrier=order.carrier,
        tracking_number=order.tracking_number,
        created_at=order.created_at,
        customer_locale=order.customer_locale,
        shop_email=order.shop.contact_email,
        items=tuple((line.sku, line.name, line.quantity) for line in order.lines.all()),
    )


def order_transition_actor(*, order_id: UUID, status: str) -> str | None:
    """Who moved the order into ``status``: ``system``, ``shop-key:…``, ``staff:…``…"""
    return (
        OrderTransition.objects.filter(order_id=order_id, to_status=status)
        .order_by("-id")
        .values_list("actor", flat=True)
        .first()
    )


def order_details(*, order_id: UUID) -> OrderDetails | None:
    order = (
        Order.objects.select_related("shop")
        .prefetch_related("lines", "shipments__lines")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        return None
    return OrderDetails(
        order_id=order.id,
        shop_id=order.shop_id,
        shop_name=order.shop.name,
        number=order.number,
        status=order.status,
        status_label=OrderStatus(order.status).label,
        status_reason=order.status_reason,
        allowed_actions=tuple(state_machine.allowed_actions(order.status)),
        customer_name=order.customer_name,
        customer_email=order.customer_email,
        shipping_address=_address_lines(order.shipping_address),
        currency=order.currency,
        subtotal=order.subtotal,
        total=order.total,
        lines=_line_values(order),
        carrier=order.carrier,
        tracking_number=order.tracking_number,
        tracking_token=order.tracking_token,
        created_at=order.created_at,
        shipments=tuple(
            ShipmentValue(
                shipment_id=parcel.id,
                carrier=parcel.carrier,
                service=parcel.service,
                tracking_number=parcel.tracking_number,
                status=parcel.status,
                status_label=ShipmentStatus(parcel.status).label,
                lines=tuple((line.sku, line.quantity) for line in parcel.lines.all()),
                eta=parcel.eta,
                created_at=parcel.created_at,
                issue_open=parcel.status in DELIVERY_EXCEPTIONS
                and parcel.issue_resolved_at is None,
            )
            for parcel in order.shipments.all()
        ),
    )


def _line_values(order: Order) -> tuple[OrderLineValue, ...]:
    return tuple(
        OrderLineValue(
            sku=line.sku,
            name=line.name,
            unit_price=line.unit_price,
            quantity=line.quantity,
            line_total=line.line_total,
            discount_amount=line.discount_amount,
            tax_rate=line.tax_rate,
            tax_amount=line.tax_amount,
        )
        for line in order.lines.all()
    )


def _address_lines(address: dict | None) -> tuple[str, ...]:
    address = address or {}
    parts = (
        address.get("line1", ""),
        address.get("line2", ""),
        " ".join(filter(None, [address.get("postal_code"), address.get("city")])),
        address.get("region", ""),
        address.get("country", ""),
    )
    return tuple(part for part in parts if part)


# --- for notifications: customer e-mails and the shop's contact ----------------------------
@dataclass(frozen=True)
class ShopContact:
    shop_id: int
    name: str
    email: str


@dataclass(frozen=True)
class OrderNotice:
    """What a customer e-mail says about an order (and whom it is from)."""

    order_id: UUID
    number: str
    status: str
    shop: ShopContact
    customer_name: str
    customer_email: str
    currency: str
    total: Decimal
    lines: tuple[OrderLineValue, ...]
    carrier: str
    tracking_number: str
    #: the order's public tracking page is /track/<tracking_token>
    tracking_token: str
    #: the language its e-mails are written in: ``pt-BR`` or ``en``
    customer_locale: str = ""
    #: pricing (``orders.pricing``): amounts in the order's price basis
    subtotal: Decimal = Decimal("0.00")
    discount_total: Decimal = Decimal("0.00")
    shipping_method_name: str = ""
    shipping_total: Decimal = Decimal("0.00")
    tax_total: Decimal = Decimal("0.00")
    prices_include_tax: bool = True


def shop_contact(*, shop_id: int) -> ShopContact:
    """The shop's name and contact e-mail (raises Shop.DoesNotExist)."""
    shop = Shop.objects.only("id", "name", "contact_email").get(pk=shop_id)
    return ShopContact(shop_id=shop.pk, name=shop.name, email=shop.contact_email)


def order_notice(*, order_id: UUID) -> OrderNotice:
    """An order as its customer e-mails show it (raises Order.DoesNotExist)."""
    order = Order.objects.select_related("shop").prefetch_related("lines").get(pk=order_id)
    return _notice(order)


def order_notices(*, order_ids: Iterable[UUID]) -> dict[UUID, OrderNotice]:
    """Many orders as their customer e-mails show them, in two queries (absent ids omitted)."""
    orders = Order.objects.select_related("shop").prefetch_related("lines").filter(pk__in=order_ids)
    return {order.id: _notice(order) for order in orders}


def _notice(order: Order) -> OrderNotice:
    return OrderNotice(
        order_id=order.id,
        number=order.number,
        status=order.status,
        shop=ShopContact(
            shop_id=order.shop_id, name=order.shop.name, email=order.shop.contact_email
        ),
        customer_name=order.customer_name,
        customer_email=order.customer_email,
        currency=order.currency,
        total=order.total,
        lines=_line_values(order),
        carrier=order.carrier,
        tracking_number=order.tracking_number,
        tracking_token=order.tracking_token,
        customer_locale=order.customer_locale,
        subtotal=order.subtotal,
        discount_total=order.discount_total,
        shipping_method_name=order.shipping_method_name,
        shipping_total=order.shipping_total,
        tax_total=order.tax_total,
        prices_include_tax=order.prices_include_tax,
    )


def shop_contacts(*, shop_ids: Iterable[int]) -> dict[int, ShopContact]:
    """Many shops' names and contact e-mails in one query (absent ids omitted)."""
    return {
        shop.pk: ShopContact(shop_id=shop.pk, name=shop.name, email=shop.contact_email)
        for shop in Shop.objects.only("id", "name", "contact_email").filter(pk__in=shop_ids)
    }


def order_actions_by_status() -> dict[str, tuple[str, ...]]:
    """Which actions (``ship``, ``cancel``…) staff or a shop may ask for, per order status."""
    return {status: tuple(state_machine.allowed_actions(status)) for status in OrderStatus.values}


def order_action_permissions() -> dict[str, dict[str, str]]:
    """Name the permission each allowed staff action needs, per order status.

    Pages use it to show a staff member only the actions their role may take, and to follow
    the order's status live without asking again.
    """
    return {
        status: {
            action: permissions.action_permission(action=action, status=status)
            for action in (
                *state_machine.allowed_actions(status),
                # not a transition: the address can change until the parcel leaves
                *(("change_address",) if status in ADDRESS_CHANGEABLE else ()),
                # not a transition of its own: the rest of a partly shipped order
                *(("cancel_remainder",) if status == OrderStatus.PARTIALLY_SHIPPED else ()),
            )
        }
        for status in OrderStatus.values
    }


def shop_names() -> tuple[tuple[int, str], ...]:
    return tuple(Shop.objects.order_by("name").values_list("id", "name"))


# --- for the customer's tracking page ---------------------------------------------------------
@dataclass(frozen=True)
class OrderPageFacts:
    """What the customer's tracking page shows of an order beside its status."""

    order_id: UUID
    #: ``pt-BR`` or ``en``
    customer_locale: str
    #: the shop's contact, where the customer writes with a question
    shop_email: str
    #: ``(sku, name, quantity)`` per line
    items: tuple[tuple[str, str, int], ...]


def order_page_facts(*, order_ids: Iterable[UUID]) -> dict[UUID, OrderPageFacts]:
    """Many orders' page facts in two queries (absent ids omitted): for an ``order.placed``
    stored before it carried them, and for a tracking row made from the orders context."""
    orders = (
        Order.objects.filter(pk__in=list(order_ids))
        .select_related("shop")
        .only("id", "customer_locale", "shop__contact_email")
        .prefetch_related("lines")
    )
    return {
        order.id: OrderPageFacts(
            order_id=order.id,
            customer_locale=order.customer_locale,
            shop_email=order.shop.contact_email,
            items=tuple((line.sku, line.name, line.quantity) for line in order.lines.all()),
        )
        for order in orders
    }


# --- for payments and returns: units of a shipped order back on hand ----------------------
def stock_restock_check(*, order_id: UUID, lines: Mapping[str, int]) -> None:
    """Check that ``lines`` (SKU -> units) of the order may go back on hand, changing nothing.

    For a caller that must know before it acts (the refund asks before it moves money).
    Locks the order row until the caller's transaction ends, so that the restock that
    follows finds what was checked: call it before locking rows of your own (the order row
    comes first). Raises ``RestockNotPossible`` (``orders.exceptions``, a 400 whose errors name
    ``restock`` for an order that has not shipped, ``lines.<i>.quantity`` for more units
    than are left to put back) or ``Order.DoesNotExist``.
    """
    order = Order.objects.select_for_update().get(pk=order_id)
    stock.stock_restock_check(order=order, lines=lines)


def stock_restock(
    *, order_id: UUID, lines: Mapping[str, int], key: str, actor: str = "system"
) -> bool:
    """Put units of a shipped order's lines (SKU -> units) back on hand, once per ``key``.

    Call it in your own transaction, with the change that decides it (a refund, a received
    return): ``key`` names that change (``refund:<id>``, ``return:<id>``), and a retry or a
    replay with the same key restocks nothing and returns False; a first restock returns
    True and publishes ``stock.restocked`` (``actor`` as the order's history names who
    acted). Only units that left the warehouse come back: every line of a shipped, out for
    delivery or delivered order, less earlier restocks of it. Raises ``RestockNotPossible``
    or ``Order.DoesNotExist`` with nothing changed. Locks the order row, then its products.
    """
    return stock.stock_restock(order_id=order_id, lines=lines, key=key, actor=actor)


@dataclass(frozen=True)
class ReturnLineSummary:
    sku: str
    name: str
    quantity: int


@dataclass(frozen=True)
class ReturnSummary:
    """One return of an order as the staff order page shows it, and the steps it allows."""

    return_id: UUID
    number: int
    status: str
    status_label: str
    reason: str
    lines: tuple[ReturnLineSummary, ...]
    rejection_reason: str
    restock: bool | None
    refunded_amount: Decimal
    requested_by: str
    requested_at: datetime
    decided_by: str
    decided_at: datetime | None
    received_by: str
    received_at: datetime | None
    settled_by: str
    settled_at: datetime | None
    #: ``approve``, ``reject``, ``receive``, ``refund``, ``close``: what its status allows
    steps: tuple[str, ...]


#: the steps each return status allows (``orders.services.returns`` checks them again)
RETURN_STEPS = {
    ReturnStatus.REQUESTED: ("approve", "reject"),
    ReturnStatus.APPROVED: ("receive",),
    ReturnStatus.RECEIVED: ("refund", "close"),
}


def order_returns(*, order_id: UUID) -> tuple[ReturnSummary, ...]:
    """The order's returns, oldest first, with their lines' names (three queries)."""
    order_returns = list(
        Return.objects.filter(order_id=order_id).prefetch_related("lines").order_by("number")
    )
    if not order_returns:
        return ()
    names = dict(OrderLine.objects.filter(order_id=order_id).values_list("sku", "name"))
    return tuple(
        ReturnSummary(
            return_id=r.id,
            number=r.number,
            status=r.status,
            status_label=ReturnStatus(r.status).label,
            reason=r.reason,
            lines=tuple(
                ReturnLineSummary(
                    sku=line.sku, name=names.get(line.sku, ""), quantity=line.quantity
                )
                for line in r.lines.all()
            ),
            rejection_reason=r.rejection_reason,
            restock=r.restock,
            refunded_amount=r.refunded_amount,
            requested_by=r.requested_by,
            requested_at=r.requested_at,
            decided_by=r.decided_by,
            decided_at=r.decided_at,
            received_by=r.received_by,
            received_at=r.received_at,
            settled_by=r.settled_by,
            settled_at=r.settled_at,
            steps=RETURN_STEPS.get(r.status, ()),
        )
        for r in order_returns
    )


def order_may_have_returns(*, status: str) -> bool:
    """Some of an order in ``status`` left in parcels: a return may be asked for."""
    return status in RETURNABLE_STATUSES


def return_request_permission() -> str:
    """The permission opening a return on the order page needs."""
    return permissions.RETURN_REQUEST_PERMISSION


def return_step_permissions() -> dict[str, str]:
    """The permission each step of a return needs (pages show only what a role may do)."""
    return dict(permissions.RETURN_STEP_PERMISSIONS)
