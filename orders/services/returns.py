"""Returns: a customer sends back units of a shipped order; the shop settles them.

requested → approved | rejected; approved → received (the units go back on hand if the
shop says so); received → refunded (the returned lines' value, or an amount) or closed
without a refund. Every step locks the order row first, as every change of the order
does, then reads the order's returns: two returns of one order queue, and the second
sees the first's units, so returns never claim more units than were shipped. Each step
publishes its ``return.*`` event in the same transaction.

Not exported from ``orders.services``: this module calls the payments context's interface,
which reads ``orders.interface``; importing it from the package would close that loop.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from orderflow.errors import FieldError
from orderflow.events import publish
from payments import interface as payments

from ..choices import ORDER_STATUS_WORDS
from ..choices import ReturnStatus as R
from ..events import (
    ReturnApproved,
    ReturnClosed,
    ReturnLineValue,
    ReturnReceived,
    ReturnRefunded,
    ReturnRejected,
    ReturnRequested,
)
from ..exceptions import (
    ReturnInputError,
    ReturnNotAllowed,
    ReturnRefundDeclined,
    ReturnRefundRefused,
)
from ..models import Order, OrderLine, Return, ReturnLine, ShipmentLine
from ..models.returns import RETURNABLE_STATUSES
from .shops import Actor
from .stock import stock_restock

#: returns whose units count against what may still come back
CLAIMING = (R.REQUESTED, R.APPROVED, R.RECEIVED, R.REFUNDED, R.CLOSED)
#: the step each status allows next, and its target
NEXT: dict[str, frozenset[str]] = {
    R.REQUESTED: frozenset({R.APPROVED, R.REJECTED}),
    R.APPROVED: frozenset({R.RECEIVED}),
    R.RECEIVED: frozenset({R.REFUNDED, R.CLOSED}),
}
REASON_MAX_LENGTH = 500
#: a return's status as the refusals name it. The refusals are in the reader's language:
#: the staff member's on a staff page, English in the API and the admin (which speak no other)
STATUS_WORDS = {
    R.REQUESTED: pgettext_lazy("a return is", "requested"),
    R.APPROVED: pgettext_lazy("a return is", "approved"),
    R.REJECTED: pgettext_lazy("a return is", "rejected"),
    R.RECEIVED: pgettext_lazy("a return is", "received"),
    R.REFUNDED: pgettext_lazy("a return is", "refunded"),
    R.CLOSED: pgettext_lazy("a return is", "closed without refund"),
}


@dataclass(frozen=True)
class ReturnLineInput:
    sku: str
    quantity: int


def returnable_units(*, order: Order) -> dict[str, int]:
    """Units of each line that may still be returned: those in the order's parcels (a split
    shipment's units still in the warehouse are not), less open or settled returns."""
    left = dict(
        ShipmentLine.objects.filter(shipment__order=order)
        .values("sku")
        .annotate(units=Sum("quantity"))
        .values_list("sku", "units")
    )
    claimed = (
        ReturnLine.objects.filter(order_return__order=order, order_return__status__in=CLAIMING)
        .values("sku")
        .annotate(units=Sum("quantity"))
    )
    for row in claimed:
        left[row["sku"]] = left.get(row["sku"], 0) - row["units"]
    return left


@transaction.atomic
def return_request(
    *,
    order_id: UUID,
    shop_id: int | None,
    lines: Sequence[ReturnLineInput],
    reason: str,
    actor: Actor,
) -> Return:
    """Open a return of units that left in the order's parcels; publish ``return.requested``.

    ``shop_id`` scopes the order to a shop's request (another shop's order does not exist:
    ``Order.DoesNotExist``); staff pass None. Raises :class:`ReturnNotAllowed` (409: not
    shipped) or :class:`ReturnInputError` (400: a line), with nothing changed.
    """
    orders = Order.objects.select_for_update()
    if shop_id is not None:
        orders = orders.filter(shop_id=shop_id)
    order = orders.get(pk=order_id)
    if order.status not in RETURNABLE_STATUSES:
        raise ReturnNotAllowed(
            _(
                "Order %(number)s is %(status)s; only an order that has shipped (all or part "
                "of it) or been delivered can have a return."
            )
            % {"number": order.number, "status": ORDER_STATUS_WORDS[order.status]},
            extra={"order_status": order.status},
        )
    names = dict(OrderLine.objects.filter(order=order).values_list("sku", "name"))
    left = returnable_units(order=order)
    errors: list[FieldError] = []
    if not lines:
        errors.append(FieldError("lines", "required", _("Name at least one line to return.")))
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.sku not in names:
            errors.append(
                FieldError(
                    f"lines.{index}.sku",
                    "not_on_order",
                    _("%(sku)s is not on this order.") % {"sku": line.sku},
                )
            )
        elif line.sku in seen:
            errors.append(
                FieldError(
                    f"lines.{index}.sku",
                    "duplicate",
                    _("%(sku)s is listed twice.") % {"sku": line.sku},
                )
            )
        elif line.quantity > left.get(line.sku, 0):
            errors.append(
                FieldError(
                    f"lines.{index}.quantity",
                    "exceeds_returnable",
                    _("%(left)s %(sku)s of order %(number)s may still be returned, not %(asked)s.")
                    % {
                        "left": max(left.get(line.sku, 0), 0),
                        "sku": line.sku,
                        "number": order.number,
                        "asked": line.quantity,
                    },
                )
            )
        seen.add(line.sku)
    if errors:
        raise ReturnInputError("; ".join(f"{e.attr}: {e.detail}" for e in errors), errors=errors)
    number = (Return.objects.filter(order=order).count()) + 1  # under the order's lock
    order_return = Return.objects.create(
        order=order,
        shop_id=order.shop_id,
        number=number,
        reason=reason[:REASON_MAX_LENGTH],
        requested_by=str(actor)[:100],
    )
    ReturnLine.objects.bulk_create(
        ReturnLine(order_return=order_return, sku=line.sku, quantity=line.quantity)
        for line in lines
    )
    publish(
        ReturnRequested(
            **_facts(order_return, order),
            lines=_line_values(order_return, names),
            reason=order_return.reason,
            actor=str(actor),
        )
    )
    return order_return


@transaction.atomic
def return_approve(*, return_id: UUID, actor: Actor, shop_id: int | None = None) -> Return:
    """The shop accepts the return: publish ``return.approved``."""
    order_return, order = _locked(return_id, to=R.APPROVED, shop_id=shop_id)
    order_return.status = R.APPROVED
    order_return.decided_by, order_return.decided_at = str(actor)[:100], timezone.now()
    order_return.save()
    publish(
        ReturnApproved(
            **_facts(order_return, order), lines=_line_values(order_return), actor=str(actor)
        )
    )
    return order_return


@transaction.atomic
def return_reject(
    *, return_id: UUID, actor: Actor, reason: str, shop_id: int | None = None
) -> Return:
    """The shop refuses the return and says why: publish ``return.rejected``; its units
    may be asked for again."""
    if not reason.strip():
        raise ReturnInputError(
            _("reason: say why the return is rejected; the customer reads it."),
            errors=[FieldError("reason", "required", _("Say why; the customer reads it."))],
        )
    order_return, order = _locked(return_id, to=R.REJECTED, shop_id=shop_id)
    order_return.status = R.REJECTED
    order_return.rejection_reason = reason.strip()[:REASON_MAX_LENGTH]
    order_return.decided_by, order_return.decided_at = str(actor)[:100], timezone.now()
    order_return.save()
    publish(
        ReturnRejected(
            **_facts(order_return, order),
            lines=_line_values(order_return),
            reason=order_return.rejection_reason,
            actor=str(actor),
        )
    )
    return order_return


@transaction.atomic
def return_receive(
    *, return_id: UUID, actor: Actor, restock: bool, shop_id: int | None = None
) -> Return:
    """The parcel came back: record it, put its units back on hand if ``restock``, and
    publish ``return.received``.

    The restock is the stock service's (``stock_restock``, keyed ``return:<id>``: it runs
    once whatever happens to this call), in this transaction.
    """
    order_return, order = _locked(return_id, to=R.RECEIVED, shop_id=shop_id)
    if restock:
        stock_restock(
            order_id=order.id,
            lines={line.sku: line.quantity for line in order_return.lines.all()},
            key=f"return:{order_return.id}",
            actor=str(actor),
        )
    order_return.status = R.RECEIVED
    order_return.restock = restock
    order_return.received_by, order_return.received_at = str(actor)[:100], timezone.now()
    order_return.save()
    publish(
        ReturnReceived(
            **_facts(order_return, order),
            lines=_line_values(order_return),
            restocked=restock,
            actor=str(actor),
        )
    )
    return order_return


def return_refund(
    *,
    return_id: UUID,
    actor: Actor,
    amount: Decimal | None = None,
    shop_id: int | None = None,
) -> Return:
    """Give the received return's money back: the returned lines' share of what was paid
    (tax and discount included), or ``amount``; publish ``return.refunded``.

    The refund is the payments context's (its rules: never more than is left of the
    capture, the payment row locked); it publishes ``payment.refunded``, without an e-mail
    of its own: the customer's e-mail rides ``return.refunded`` (the lines, the amount and
    the credit note). Raises :class:`ReturnRefundRefused` (409) when the payments context
    refuses, with nothing changed.

    A refund the payment provider declines is a fact: its transaction commits the declined
    refund and its gateway attempt (and nothing else: the return stays received), then
    :class:`ReturnRefundDeclined` (the same 409) is raised. Rolling them back would leave
    the next try numbered as this one, under the same gateway key, and the provider replays
    a key's first answer: the decline, for ever.
    """
    with transaction.atomic():
        order_return, order = _locked(return_id, to=R.REFUNDED, shop_id=shop_id)
        lines = [(line.sku, line.quantity) for line in order_return.lines.all()]
        try:
            refund = payments.refund_for_order(
                order_id=order.id,
                lines=() if amount is not None else lines,
                amount=amount,
                reason=f"Return {order.number}-R{order_return.number}: {order_return.reason}",
                on_request=False,  # return.refunded's e-mail tells the customer, not the refund's
            )
        except payments.RefundRefused as error:
            raise ReturnRefundRefused(
                _("Not refunded: %(detail)s") % {"detail": error.detail},
                errors=[FieldError("amount", "refund_refused", error.detail)],
            ) from None
        if refund.succeeded:
            order_return.status = R.REFUNDED
            order_return.refunded_amount = refund.amount
            order_return.refund_id = refund.refund_id
            order_return.settled_by, order_return.settled_at = str(actor)[:100], timezone.now()
            order_return.save()
            publish(
                ReturnRefunded(
                    **_facts(order_return, order),
                    amount=refund.amount,
                    currency=refund.currency,
                    refund_id=refund.refund_id,
                    actor=str(actor),
                    lines=_line_values(order_return),
                    credit_note=refund.credit_note,
                )
            )
            return order_return
    # declined: raised past the block, which kept the declined refund (``writes_stand``)
    raise ReturnRefundDeclined(
        _("The payment provider declined the refund; nothing was refunded. Try again later.")
    )


@transaction.atomic
def return_close(
    *, return_id: UUID, actor: Actor, reason: str = "", shop_id: int | None = None
) -> Return:
    """Settle a received return without a refund: publish ``return.closed``."""
    order_return, order = _locked(return_id, to=R.CLOSED, shop_id=shop_id)
    order_return.status = R.CLOSED
    order_return.settled_by, order_return.settled_at = str(actor)[:100], timezone.now()
    order_return.save()
    publish(
        ReturnClosed(
            **_facts(order_return, order), reason=reason[:REASON_MAX_LENGTH], actor=str(actor)
        )
    )
    return order_return


def _locked(return_id: UUID, *, to: str, shop_id: int | None) -> tuple[Return, Order]:
    """The return and its order, the order locked first (as every order change locks it)."""
    returns = Return.objects.all()
    if shop_id is not None:
        returns = returns.filter(shop_id=shop_id)
    order_id = returns.values_list("order_id", flat=True).get(pk=return_id)
    order = Order.objects.select_for_update().get(pk=order_id)
    order_return = Return.objects.select_for_update().get(pk=return_id)
    if to not in NEXT.get(order_return.status, ()):
        raise ReturnNotAllowed(
            _("Return %(number)s-R%(return_number)s is %(status)s; it cannot become %(target)s.")
            % {
                "number": order.number,
                "return_number": order_return.number,
                "status": STATUS_WORDS[order_return.status],
                "target": STATUS_WORDS[to],
            },
            extra={"return_status": order_return.status},
        )
    return order_return, order


def _facts(order_return: Return, order: Order) -> dict:
    return {
        "return_id": order_return.id,
        "return_number": order_return.number,
        "order_id": order.id,
        "shop_id": order.shop_id,
        "number": order.number,
    }


def _line_values(
    order_return: Return, names: dict[str, str] | None = None
) -> list[ReturnLineValue]:
    lines = list(order_return.lines.all())
    if names is None:
        names = dict(
            OrderLine.objects.filter(
                order_id=order_return.order_id, sku__in=[line.sku for line in lines]
            ).values_list("sku", "name")
        )
    return [
        ReturnLineValue(sku=line.sku, quantity=line.quantity, name=names.get(line.sku, ""))
        for line in lines
    ]
