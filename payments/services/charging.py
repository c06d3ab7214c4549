"""Charging an order: authorise and capture its total through the gateway, exactly once."""

from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orderflow.events import publish
from orders.events import OrderStatus
from orders.interface import order_payment_request

from .. import state_machine
from ..choices import AttemptOutcome, GatewayOperation
from ..choices import PaymentStatus as P
from ..events import PaymentCaptured, PaymentFailed
from ..gateway import GatewayResult, TransientGatewayError, get_gateway
from ..models import Payment, PaymentAttempt


def gateway_key(order_id: UUID, operation: str) -> str:
    """Idempotency keys derive from the order (one payment per order), never from a row id
    that a rolled-back attempt would lose: a retry must replay, not charge again."""
    return f"order-{order_id}-{operation}"


def payment_row_locked(*, order_id: UUID, shop_id: int, amount, currency: str) -> Payment:
    """Return the order's payment row, locked; create it (pending) if there is none.

    Charging and refunding both start here, so they serialise on the same row: a refund
    for a cancelled order waits for a charge in flight, and a charge after a cancel finds
    the voided row.
    """
    Payment.objects.bulk_create(
        [Payment(order_id=order_id, shop_id=shop_id, amount=amount, currency=currency)],
        ignore_conflicts=True,
    )
    return Payment.objects.select_for_update().get(order_id=order_id)


@transaction.atomic
def payment_charge(*, order_id: UUID, attempt: int) -> Payment:
    """Charge the order's total; publish ``payment.captured`` or ``payment.failed``.

    A transient gateway error is raised for the delivery to retry (same idempotency keys),
    until ``PAYMENT_MAX_ATTEMPTS``, when the payment fails. A decline is final.
    """
    request = order_payment_request(order_id=order_id)
    payment = payment_row_locked(
        order_id=order_id, shop_id=request.shop_id, amount=request.amount, currency=request.currency
    )
    if payment.status != P.PENDING:
        return payment  # charged, failed or voided already: a redelivery changes nothing
    if request.status == OrderStatus.CANCELLED:
        state_machine.transition(payment, to=P.VOIDED)
        payment.save(update_fields=["status", "updated_at"])
        return payment

    gateway = get_gateway()
    try:
        authorization = _call(
            payment,
            GatewayOperation.AUTHORIZE,
            attempt,
            lambda key: gateway.authorize(
                token=request.token,
                amount=payment.amount,
                currency=payment.currency,
                idempotency_key=key,
            ),
        )
        if not authorization.ok:
            return _fail(payment, request.number, authorization.decline_code, authorization.message)
        state_machine.transition(payment, to=P.AUTHORIZED)
        payment.authorization_reference = authorization.reference
        capture = _call(
            payment,
            GatewayOperation.CAPTURE,
            attempt,
            lambda key: gateway.capture(
                authorization=authorization.reference,
                amount=payment.amount,
                currency=payment.currency,
                idempotency_key=key,
            ),
        )
    except TransientGatewayError as error:
        if attempt < settings.PAYMENT_MAX_ATTEMPTS:
            raise
        PaymentAttempt.objects.create(
            payment=payment,
            operation=GatewayOperation.AUTHORIZE,
            idempotency_key=gateway_key(order_id, "authorize"),
            outcome=AttemptOutcome.GAVE_UP,
            detail=f"{error} (attempt {attempt} of {settings.PAYMENT_MAX_ATTEMPTS})",
            delivery_attempt=attempt,
        )
        return _fail(
            payment,
            request.number,
            "gateway_unavailable",
            f"The payment provider kept failing: {error}",
        )
    if not capture.ok:
        return _fail(payment, request.number, capture.decline_code, capture.message)

    state_machine.transition(payment, to=P.CAPTURED)
    payment.gateway_reference = capture.reference
    payment.captured_at = timezone.now()
    payment.save()
    publish(
        PaymentCaptured(
            payment_id=payment.id,
            order_id=payment.order_id,
            shop_id=payment.shop_id,
            amount=payment.amount,
            currency=payment.currency,
            gateway_reference=payment.gateway_reference,
            order_number=request.number,
        )
    )
    return payment


def _call(payment: Payment, operation: str, attempt: int, send) -> GatewayResult:
    key = gateway_key(payment.order_id, operation)
    result = send(key)
    PaymentAttempt.objects.create(
        payment=payment,
        operation=operation,
        idempotency_key=key,
        outcome=AttemptOutcome.SUCCEEDED if result.ok else AttemptOutcome.DECLINED,
        reference=result.reference,
        detail=result.message or result.decline_code,
        delivery_attempt=attempt,
    )
    return result


def _fail(payment: Payment, order_number: str, decline_code: str, message: str) -> Payment:
    state_machine.transition(payment, to=P.FAILED)
    payment.decline_code = decline_code[:50]
    payment.failure_reason = message[:500]
    payment.save()
    publish(
        PaymentFailed(
            payment_id=payment.id,
            order_id=payment.order_id,
            shop_id=payment.shop_id,
            amount=payment.amount,
            currency=payment.currency,
            decline_code=payment.decline_code,
            reason=message or decline_code,
            order_number=order_number,
        )
    )
    return payment
