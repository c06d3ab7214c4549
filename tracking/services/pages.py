"""What the staff pages, the public page and the shops' API show, composed for each.

These reads live among the services because they gather values from other contexts'
interfaces (orders, payments), which only services may call.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from notifications import interface as notifications_interface
from orderflow import roles
from orders import interface as orders_interface
from payments import interface as payments_interface

from .. import payloads, selectors
from ..models import TrackedOrder
from .recording import (
    tracked_order_ensure,
    tracked_order_ensure_for_token,
    tracked_order_from_details,
)
from .status import live_status_for_tracked

#: what ``secrets.token_urlsafe`` makes, within the column's 64 characters
TRACKING_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class OrderPage:
    order: orders_interface.OrderDetails
    payment: payments_interface.PaymentSummary | None
    invoices: tuple[payments_interface.InvoiceSummary, ...]
    timeline: dict
    #: which staff actions each order status allows the viewer's role, for the page to
    #: follow live changes
    actions_by_status: dict[str, tuple[str, ...]]
    #: the order's internal notes, oldest first
    notes: tuple
    emails: tuple[notifications_interface.OrderEmail, ...]
    #: the customer's other orders in the same shop, newest first (at most OTHER_ORDERS), as
    #: the board shows a row
    other_orders: tuple[dict, ...]
    #: what the viewer's role may do beside the order's actions
    may_note: bool
    may_resend: bool
    #: the order's returns, oldest first, and the steps of a return the viewer's role may take
    returns: tuple[orders_interface.ReturnSummary, ...] = ()
    return_steps_allowed: tuple[str, ...] = ()
    #: the viewer may open a return, and the order has shipped (some of it)
    may_request_return: bool = False


#: how many of the customer's other orders the page lists
OTHER_ORDERS = 20


@dataclass(frozen=True)
class PublicTracking:
    order_id: UUID
    snapshot: dict


def order_page_get(*, order_id: UUID, may: Callable[[str], bool]) -> OrderPage | None:
    """Compose the staff order page; ``may`` (``user.has_perm``) filters the actions shown."""
    order = orders_interface.order_details(order_id=order_id)
    if order is None:
        return None
    tracked = tracked_order_ensure(order_id=order_id)
    return OrderPage(
        order=order,
        payment=payments_interface.payment_summary_for_order(order_id=order_id),
        invoices=payments_interface.invoices_for_order(order_id=order_id),
        timeline=selectors.timeline_snapshot(tracked=tracked),
        actions_by_status={
            status: tuple(action for action, permission in actions.items() if may(permission))
            for status, actions in orders_interface.order_action_permissions().items()
        },
        notes=tuple(selectors.notes_for_order(order_id=order_id)),
        emails=notifications_interface.order_emails(order_id=order_id),
        other_orders=tuple(
            payloads.board_row(other)
            for other in selectors.customer_other_orders(tracked=tracked, limit=OTHER_ORDERS)
        ),
        may_note=may(roles.NOTE),
        may_resend=may(roles.RESEND_EMAIL),
        returns=orders_interface.order_returns(order_id=order_id),
        return_steps_allowed=tuple(
            step
            for step, permission in orders_interface.return_step_permissions().items()
            if may(permission)
        ),
        may_request_return=may(orders_interface.return_request_permission())
        and orders_interface.order_may_have_returns(status=order.status),
    )


def public_tracking_get(*, token: str) -> PublicTracking | None:
    """The customer's view of an order: status, carrier and public steps, nothing private.

    A token that cannot be one (a NUL byte, a slash, 500 characters) finds nothing without
    a query: PostgreSQL refuses NUL in text, which would be a 500 on the page and socket.
    """
    tracked = public_tracked_order(token=token)
    if tracked is None:
        return None
    return PublicTracking(order_id=tracked.order_id, snapshot=public_snapshot(tracked=tracked))


def public_tracked_order(*, token: str) -> TrackedOrder | None:
    """The tracked order ``token`` names (made now if its projection has not yet), without
    its snapshot: what a socket needs before it joins the order's group (it reads the
    snapshot once joined, so that no push falls between the two)."""
    if not TRACKING_TOKEN.fullmatch(token):
        return None
    tracked = selectors.tracked_order_for_token(token=token)
    if tracked is None:
        tracked = tracked_order_ensure_for_token(token=token)
    return tracked


def public_snapshot(*, tracked) -> dict:
    """What the customer sees of ``tracked`` (a row just read): its live status, and its
    public entries with the newest one's id as the watermark, read in one statement."""
    live = live_status_for_tracked(tracked)
    entries = list(selectors.entries_for_order(order_id=tracked.order_id, public_only=True))
    return {
        "type": "snapshot",
        "watermark": max((entry.id for entry in entries), default=0),
        "order": payloads.public_order(tracked, live),
        "entries": [payloads.public_entry(entry) for entry in entries],
    }


def tracking_for_shop_order(*, shop_id: int, order_id: UUID) -> dict | None:
    """The shops' API view: current status (from the live snapshot) and the full history."""
    tracked = selectors.tracked_order_get(order_id=order_id)
    if tracked is None:
        details = orders_interface.order_tracking_details(order_id=order_id)
        if details is None or details.shop_id != shop_id:
            return None
        tracked = tracked_order_from_details(details)
    if tracked.shop_id != shop_id:
        return None
    live = live_status_for_tracked(tracked)
    return {
        **payloads.live_status_payload(live),
        "history": [
            payloads.shop_entry(entry) for entry in selectors.entries_for_order(order_id=order_id)
        ],
    }


def board_shops() -> tuple[tuple[int, str], ...]:
    """Every shop, for the board's filter."""
    return orders_interface.shop_names()
