"""Refunding: a cancelled order's capture, exactly once; part of a capture, on request."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils.translation import gettext as _

from orderflow.errors import FieldError
from orderflow.events import publish
from orders.interface import (
    InvoiceDetails,
    RestockNotPossible,
    order_invoice_details,
    order_payment_request,
    stock_restock,
    stock_restock_check,
)

from .. import state_machine
from ..choices import (
    PAYMENT_STATUS_WORDS,
    AttemptOutcome,
    GatewayOperation,
    PaymentMode,
    RefundStatus,
)
from ..choices import PaymentStatus as P
from ..events import PaymentRefunded, PaymentVoided
from ..exceptions import GatewayUnavailable, RefundInputError, RefundNotPossible
from ..gateway import GatewayResult, TransientGatewayError, get_gateway
from ..models import Payment, PaymentAttempt, Refund
from ..refund_shares import Shares, bands_of
from .charging import gateway_key, payment_row_locked
from .invoicing import (
    RefundedLine,
    credit_note_issue,
    credit_note_issue_for_refund,
    refunded_lines,
    refunds_replayed,
)


@transaction.atomic(savepoint=False)  # a saga step: no savepoint in its delivery
def payment_refund_for_cancelled_order(
    *, order_id: UUID, reason: str, attempt: int, previous_status: str = ""
) -> Payment:
    """Give back a captured payment of a cancelled order; void a charge not made yet.

    Runs for every ``order.cancelled``: a capture that lands after the cancellation is
    refunded too, because charging and refunding lock the same payment row and the charge
    re-reads the order's status under that lock. An authorisation waiting for its capture
    (capture on shipment) is voided at the gateway: nothing was charged, ``payment.voided``.
    A payment the shop took itself (external) is refunded by the shop: the refund is
    recorded, with no gateway call.

    Once the rest is given back, the invoice's cancellation credit note is issued in this
    transaction, under the payment row's lock (``credit_note_issue``, which leaves a
    captured payment to this step): a shop's refund that came first has its own credit
    note, and one that comes after finds nothing left to refund. ``previous_status`` is
    the order's before the cancellation (an order cancelled once confirmed is invoiced).
    """
    request = order_payment_request(order_id=order_id)
    payment = payment_row_locked(
        order_id=order_id,
        shop_id=request.shop_id,
        amount=request.amount,
        currency=request.currency,
        mode=request.mode,
    )
    if payment.status == P.PENDING:
        state_machine.transition(payment, to=P.VOIDED)
        payment.save(update_fields=["status", "updated_at"])
        return payment
    if payment.status == P.AUTHORIZED:
        return _void(payment, reason=reason, attempt=attempt, order_number=request.number)
    if payment.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED):
        return payment  # failed, voided or refunded: nothing to give back
    amount = payment.amount - payment.refunded_amount
    key = gateway_key(order_id, "refund")
    if payment.mode == PaymentMode.EXTERNAL:
        result = GatewayResult(ok=True, reference=payment.gateway_reference)
    else:
        result = get_gateway().refund(
            capture=payment.gateway_reference,
            amount=amount,
            currency=payment.currency,
            idempotency_key=key,
        )
        PaymentAttempt.objects.create(
            payment=payment,
            operation=GatewayOperation.REFUND,
            idempotency_key=key,
            outcome=AttemptOutcome.SUCCEEDED if result.ok else AttemptOutcome.DECLINED,
            reference=result.reference,
            detail=result.message,
            delivery_attempt=attempt,
        )
    refund = Refund.objects.create(
        payment=payment,
        amount=amount,
        currency=payment.currency,
        status=RefundStatus.SUCCEEDED if result.ok else RefundStatus.FAILED,
        gateway_reference=result.reference,
        idempotency_key=key,
        reason=reason[:500],
    )
    if not result.ok:
        return payment
    state_machine.transition(payment, to=P.REFUNDED)
    payment.refunded_amount = payment.amount
    payment.save()
    credit_note_issue(order_id=order_id, previous_status=previous_status)
    publish(
        PaymentRefunded(
            payment_id=payment.id,
            refund_id=refund.id,
            order_id=order_id,
            shop_id=payment.shop_id,
            amount=amount,
            currency=payment.currency,
            reason=reason,
            order_number=request.number,
        )
    )
    return payment


def _void(payment: Payment, *, reason: str, attempt: int, order_number: str) -> Payment:
    """Release the authorisation of a cancelled order (same key on a redelivery)."""
    key = gateway_key(payment.order_id, "void")
    result = get_gateway().void(authorization=payment.authorization_reference, idempotency_key=key)
    PaymentAttempt.objects.create(
        payment=payment,
        operation=GatewayOperation.VOID,
        idempotency_key=key,
        outcome=AttemptOutcome.SUCCEEDED if result.ok else AttemptOutcome.DECLINED,
        reference=result.reference,
        detail=result.message,
        delivery_attempt=attempt,
    )
    if not result.ok:
        return payment  # the hold lapses at the card's issuer; the attempt says why
    state_machine.transition(payment, to=P.VOIDED)
    payment.save(update_fields=["status", "updated_at"])
    publish(
        PaymentVoided(
            payment_id=payment.id,
            order_id=payment.order_id,
            shop_id=payment.shop_id,
            amount=payment.amount,
            currency=payment.currency,
            reason=reason,
            order_number=order_number,
        )
    )
    return payment


@dataclass(frozen=True)
class RefundLine:
    """Units of one order line to give back."""

    sku: str
    quantity: int


@transaction.atomic
def payment_refund(
    *,
    order_id: UUID,
    shop_id: int | None,
    amount: Decimal | None = None,
    lines: Sequence[RefundLine] = (),
    reason: str = "",
    restock: bool = False,
    actor: str = "",
    on_request: bool = True,
) -> Refund:
    """Give back part (or the rest) of an order's captured payment; publish ``payment.refunded``.

    ``amount``, or ``lines``: those units' share of what the customer paid, their tax and
    discount included (a line's refunds add up to its total exactly: each share is the
    rounded share of the units refunded so far, less what earlier refunds gave back; of
    what is left of the line once a refund of an amount took part of it). An amount is
    taken from every line and the shipping in proportion to what is left of each, and its
    credit note's tax per rate is what it took (``payments.refund_shares``).
    ``shop_id`` scopes the order to a shop's request (another shop's order does not
    exist); staff pass None. ``restock`` (lines only) puts the units back on hand through
    the orders context, once per refund (``refund:<id>``), and is checked before any money
    moves; ``actor`` is who asked, as the order's history names it.

    A succeeded refund is a credit note, issued in this transaction (its number is in the
    answer and in ``payment.refunded``; see ``credit_note_issue_for_refund`` for an order
    not invoiced yet).

    The payment row is locked (after the order row when restocking, as every stock change
    and a return lock it first), as the charge and the cancellation refund lock it, so
    concurrent refunds queue: each sees what the previous ones gave back, and their sum
    never exceeds what was captured (the table's check says so too). A refund by lines
    never gives back more units of a line than were ordered, counting earlier refunds.
    ``on_request`` False: the caller's own event tells the customer (the orders context's
    cancellation of a partly shipped order's remainder), so ``payment.refunded`` sends no
    e-mail of its own.
    Raises ``ObjectDoesNotExist`` (no such order), :class:`RefundNotPossible` (nothing
    captured to give back), :class:`RefundInputError` (amount, lines or restock), with
    nothing changed.
    """
    if restock and not lines:
        raise RefundInputError(
            "restock: "
            + _("only a refund of lines puts units back on hand, not one of an amount."),
            errors=[
                FieldError(
                    "restock",
                    "lines_only",
                    _(
                        "Only a refund of lines puts units back on hand; send lines, or leave "
                        "restock out."
                    ),
                )
            ],
        )
    request = order_payment_request(order_id=order_id)
    if shop_id is not None and request.shop_id != shop_id:
        raise ObjectDoesNotExist(f"Order {order_id} does not exist.")
    if restock:
        # before the payment row: the order row comes first, as a return's refund locks them
        try:
            stock_restock_check(order_id=order_id, lines=_units(lines))
        except RestockNotPossible as error:
            raise RefundInputError(error.detail, errors=error.errors) from None
    payment = Payment.objects.select_for_update().filter(order_id=order_id).first()
    if payment is None or payment.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED):
        state = PAYMENT_STATUS_WORDS[payment.status] if payment else _("not taken yet")
        raise RefundNotPossible(
            _("Order %(number)s has no captured payment to refund (its payment is %(state)s).")
            % {"number": request.number, "state": state}
        )
    order = order_invoice_details(order_id=order_id)
    left = refunds_replayed(order, _succeeded(payment))
    refund_lines: list[dict] = []
    shares: list[RefundedLine] = []
    if lines:
        shares = _share_of_lines(order, lines, left)
        amount = sum((share.gross for share in shares), Decimal("0.00"))
        refund_lines = [{"sku": line.sku, "quantity": line.quantity} for line in lines]
    refundable = payment.amount - payment.refunded_amount
    if amount is None or amount <= 0:
        raise RefundInputError(
            "amount: a refund gives back more than nothing.",
            errors=[FieldError("amount", "min_value", _("A refund gives back more than 0."))],
        )
    if amount > refundable:
        detail = _(
            "%(amount)s %(currency)s is more than what is left to refund of order "
            "%(number)s: %(left)s %(currency)s of %(captured)s captured."
        ) % {
            "amount": amount,
            "currency": payment.currency,
            "number": request.number,
            "left": refundable,
            "captured": payment.amount,
        }
        raise RefundInputError(
            f"amount: {detail}", errors=[FieldError("amount", "exceeds_refundable", detail)]
        )

    # one key per refund of the order, numbered under the lock: a retry of the same
    # refund replays the gateway's answer, the next refund is a new one
    key = gateway_key(order_id, f"refund-{payment.refunds.count() + 1}")
    if payment.mode == PaymentMode.EXTERNAL:
        result = GatewayResult(ok=True, reference="")  # the shop gives the money back
    else:
        try:
            result = get_gateway().refund(
                capture=payment.gateway_reference,
                amount=amount,
                currency=payment.currency,
                idempotency_key=key,
            )
        except TransientGatewayError as error:
            raise GatewayUnavailable(
                f"The payment provider did not answer ({error}); nothing was refunded. "
                "Try again in a moment.",
                headers={"Retry-After": "5"},
            ) from error
        PaymentAttempt.objects.create(
            payment=payment,
            operation=GatewayOperation.REFUND,
            idempotency_key=key,
            outcome=AttemptOutcome.SUCCEEDED if result.ok else AttemptOutcome.DECLINED,
            reference=result.reference,
            detail=result.message,
            delivery_attempt=1,
        )
    refund = Refund.objects.create(
        payment=payment,
        amount=amount,
        currency=payment.currency,
        status=RefundStatus.SUCCEEDED if result.ok else RefundStatus.FAILED,
        gateway_reference=result.reference,
        idempotency_key=key,
        reason=reason[:500],
        lines=refund_lines,
        restock=restock,
    )
    if not result.ok:
        return refund
    payment.refunded_amount += amount
    state_machine.transition(
        payment,
        to=P.REFUNDED if payment.refunded_amount == payment.amount else P.PARTIALLY_REFUNDED,
    )
    payment.save(update_fields=["status", "refunded_amount", "updated_at"])
    credit_note = credit_note_issue_for_refund(
        refund=refund,
        order_id=order_id,
        lines=shares,
        bands=None if lines else bands_of(left.take_amount(amount)),
    )
    if restock:
        stock_restock(
            order_id=order_id, lines=_units(lines), key=f"refund:{refund.id}", actor=actor
        )
    publish(
        PaymentRefunded(
            payment_id=payment.id,
            refund_id=refund.id,
            order_id=order_id,
            shop_id=payment.shop_id,
            amount=amount,
            currency=payment.currency,
            reason=reason,
            order_number=request.number,
            on_request=on_request,
            credit_note=credit_note.number if credit_note else "",
            restocked=restock,
        )
    )
    return refund


def payment_refund_the_rest(
    *, order_id: UUID, reason: str, restock: bool = False, actor: str = ""
) -> Refund:
    """Give back what is left of the order's payment (support's admin action).

    With ``restock``, what is left is the units of every line not refunded yet (what is left
    of them after refunds of amounts), put back on hand: a refund by lines
    (:func:`payment_refund`), refused like any other when the order has not shipped.
    """
    payment = Payment.objects.filter(order_id=order_id).first()
    if not restock or payment is None:
        rest = payment.amount - payment.refunded_amount if payment else None
        return payment_refund(
            order_id=order_id, shop_id=None, amount=rest, reason=reason, actor=actor
        )
    refunded: dict[str, int] = {}
    for earlier in payment.refunds.filter(status=RefundStatus.SUCCEEDED).values_list(
        "lines", flat=True
    ):
        for line in earlier:
            refunded[line["sku"]] = refunded.get(line["sku"], 0) + line["quantity"]
    lines = [
        RefundLine(sku=line.sku, quantity=line.quantity - refunded.get(line.sku, 0))
        for line in order_invoice_details(order_id=order_id).lines
        if line.quantity > refunded.get(line.sku, 0)
    ]
    return payment_refund(
        order_id=order_id,
        shop_id=None,
        amount=None if lines else Decimal("0"),
        lines=lines,
        reason=reason,
        restock=bool(lines),
        actor=actor,
    )


def _units(lines: Sequence[RefundLine]) -> dict[str, int]:
    return {line.sku: line.quantity for line in lines}


def _share_of_lines(
    order: InvoiceDetails, lines: Sequence[RefundLine], left: Shares
) -> list[RefundedLine]:
    """Each line's units and their share of what is left of it (tax and discount included).

    Validated first (on the order, listed once, no more units than are left to refund);
    then taken from ``left`` (``payments.refund_shares``: the unit rule, or the share of
    what a refund of an amount left of the line).
    """
    ordered = {line.sku: line for line in order.lines}
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, wanted in enumerate(lines):
        line = ordered.get(wanted.sku)
        if line is None:
            errors.append(
                FieldError(
                    f"lines.{index}.sku",
                    "not_on_order",
                    _("%(sku)s is not on this order.") % {"sku": wanted.sku},
                )
            )
            continue
        if wanted.sku in seen:
            errors.append(
                FieldError(
                    f"lines.{index}.sku",
                    "duplicate",
                    _("%(sku)s is listed twice.") % {"sku": wanted.sku},
                )
            )
            continue
        seen.add(wanted.sku)
        units_left = left.units_left(wanted.sku)
        if wanted.quantity > units_left:
            errors.append(
                FieldError(
                    f"lines.{index}.quantity",
                    "exceeds_ordered",
                    _("%(left)s of %(ordered)s %(sku)s may still be refunded, not %(asked)s.")
                    % {
                        "left": units_left,
                        "ordered": line.quantity,
                        "sku": wanted.sku,
                        "asked": wanted.quantity,
                    },
                )
            )
    if errors:
        raise RefundInputError("; ".join(f"{e.attr}: {e.detail}" for e in errors), errors=errors)
    return refunded_lines(order, left.take_lines({wanted.sku: wanted.quantity for wanted in lines}))


def _succeeded(payment: Payment) -> list[Refund]:
    """The payment's succeeded refunds, oldest first (one query)."""
    return list(payment.refunds.filter(status=RefundStatus.SUCCEEDED).order_by("created_at"))
