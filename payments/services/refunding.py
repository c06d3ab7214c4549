"""Refunding a cancelled order's capture, exactly once."""

from uuid import UUID

from django.db import transaction

from orderflow.events import publish
from orders.interface import order_payment_request

from .. import state_machine
from ..choices import AttemptOutcome, GatewayOperation, PaymentMode, RefundStatus
from ..choices import PaymentStatus as P
from ..events import PaymentRefunded, PaymentVoided
from ..gateway import GatewayResult, get_gateway
from ..models import Payment, PaymentAttempt, Refund
from .charging import gateway_key, payment_row_locked


@transaction.atomic(savepoint=False)  # a saga step: no savepoint in its delivery
def payment_refund_for_cancelled_order(*, order_id: UUID, reason: str, attempt: int) -> Payment:
    """Give back a captured payment of a cancelled order; void a charge not made yet.

    Runs for every ``order.cancelled``: a capture that lands after the cancellation is
    refunded too, because charging and refunding lock the same payment row and the charge
    re-reads the order's status under that lock. An authorisation waiting for its capture
    (capture on shipment) is voided at the gateway: nothing was charged, ``payment.voided``.
    A payment the shop took itself (external) is refunded by the shop: the refund is
    recorded, with no gateway call.
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
