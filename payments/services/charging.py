"""Charging an order: authorise and capture its total through the gateway, exactly once."""

from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orderflow.events import publish
from orders.events import OrderStatus
from orders.interface import order_payment_request

from .. import repository, state_machine
from ..choices import AttemptOutcome, GatewayOperation, PaymentMode
from ..choices import PaymentStatus as P
from ..events import PaymentAuthorized, PaymentCaptured, PaymentFailed
from ..gateway import GatewayResult, TransientGatewayError, get_gateway
from ..models import Payment


def gateway_key(order_id: UUID, operation: str) -> str:
    """Idempotency keys derive from the order (one payment per order), never from a row id
    that a rolled-back attempt would lose: a retry must replay, not charge again."""
    return f"order-{order_id}-{operation}"


def payment_row_locked(
    *, order_id: UUID, shop_id: int, amount, currency: str, mode: str = PaymentMode.CHARGE
) -> Payment:
    """Return the order's payment row, locked; create it (pending) if there is none.

    Charging and refunding both start here, so they serialise on the same row: a refund
    for a cancelled order waits for a charge in flight, and a charge after a cancel finds
    the voided row. One statement (``payments.repository``).
    """
    return repository.payment_locked(
        order_id=order_id, shop_id=shop_id, amount=amount, currency=currency, mode=mode
    )


@transaction.atomic(savepoint=False)
def payment_charge(*, order_id: UUID, attempt: int) -> Payment:
    """Take the order's total by its payment mode; publish what became of it.

    - ``charge``: authorise and capture through the gateway: ``payment.captured`` or
      ``payment.failed``;
    - ``capture_on_shipment``: authorise only: ``payment.authorized`` (the order confirms
      on it; ``payment_capture_on_shipment`` captures when it ships) or ``payment.failed``;
    - ``external``: the shop took the money at its checkout: recorded as captured with the
      shop's reference, no gateway call, ``payment.captured``.

    A transient gateway error is raised for the delivery to retry (same idempotency keys),
    until ``PAYMENT_MAX_ATTEMPTS``, when the payment fails. A decline is final.

    No savepoint: inside a delivery the step shares the delivery's transaction, and an
    error (a transient one included) rolls the whole delivery back. The gateway calls are
    recorded with the payment's new state, in one statement at the end.
    """
    request = order_payment_request(order_id=order_id)
    payment = payment_row_locked(
        order_id=order_id,
        shop_id=request.shop_id,
        amount=request.amount,
        currency=request.currency,
        mode=request.mode,
    )
    if payment.status != P.PENDING:
        return payment  # charged, failed or voided already: a redelivery changes nothing
    if request.status == OrderStatus.CANCELLED:
        state_machine.transition(payment, to=P.VOIDED)
        repository.payment_save(payment, [], delivery_attempt=attempt)
        return payment
    if payment.mode == PaymentMode.EXTERNAL:
        state_machine.transition(payment, to=P.AUTHORIZED)
        payment.gateway_reference = request.reference[:100]
        return _captured(payment, [], attempt, request.number)

    gateway = get_gateway()
    attempts: list[repository.Attempt] = []
    try:
        authorization = _call(
            attempts,
            order_id,
            GatewayOperation.AUTHORIZE,
            lambda key: gateway.authorize(
                token=request.token,
                amount=payment.amount,
                currency=payment.currency,
                idempotency_key=key,
            ),
        )
        if not authorization.ok:
            return _fail(
                payment,
                attempts,
                attempt,
                request.number,
                authorization.decline_code,
                authorization.message,
            )
        state_machine.transition(payment, to=P.AUTHORIZED)
        payment.authorization_reference = authorization.reference
        if payment.mode == PaymentMode.CAPTURE_ON_SHIPMENT:
            repository.payment_save(payment, attempts, delivery_attempt=attempt)
            publish(
                PaymentAuthorized(
                    payment_id=payment.id,
                    order_id=payment.order_id,
                    shop_id=payment.shop_id,
                    amount=payment.amount,
                    currency=payment.currency,
                    authorization_reference=payment.authorization_reference,
                    order_number=request.number,
                )
            )
            return payment
        capture = _capture(attempts, gateway, payment, authorization.reference)
    except TransientGatewayError as error:
        if attempt < settings.PAYMENT_MAX_ATTEMPTS:
            raise
        return _gave_up(
            payment, attempts, attempt, request.number, GatewayOperation.AUTHORIZE, error
        )
    return _settle(payment, attempts, attempt, request.number, capture)


@transaction.atomic(savepoint=False)
def payment_capture_on_shipment(*, order_id: UUID, attempt: int) -> Payment:
    """Capture an authorised payment when its order ships; publish ``payment.captured``.

    Only a payment waiting for its capture (``authorized``) moves: a charged, external,
    failed or voided one, a second shipment or a redelivery change nothing, and a retried
    capture replays the gateway's first answer (same idempotency key). A transient error
    is raised for the delivery to retry; a capture the gateway declines, or one that kept
    failing, leaves the payment ``failed`` with its reason (the order has shipped: support
    settles it with the shop) and publishes ``payment.failed``.
    """
    request = order_payment_request(order_id=order_id)
    payment = payment_row_locked(
        order_id=order_id,
        shop_id=request.shop_id,
        amount=request.amount,
        currency=request.currency,
        mode=request.mode,
    )
    if payment.status != P.AUTHORIZED:
        return payment
    gateway = get_gateway()
    attempts: list[repository.Attempt] = []
    try:
        capture = _capture(attempts, gateway, payment, payment.authorization_reference)
    except TransientGatewayError as error:
        if attempt < settings.PAYMENT_MAX_ATTEMPTS:
            raise
        return _gave_up(payment, attempts, attempt, request.number, GatewayOperation.CAPTURE, error)
    return _settle(payment, attempts, attempt, request.number, capture)


def _capture(attempts, gateway, payment: Payment, authorization: str) -> GatewayResult:
    """Capture ``payment``'s authorised amount (its order's capture key: a retry replays)."""
    return _call(
        attempts,
        payment.order_id,
        GatewayOperation.CAPTURE,
        lambda key: gateway.capture(
            authorization=authorization,
            amount=payment.amount,
            currency=payment.currency,
            idempotency_key=key,
        ),
    )


def _gave_up(payment, attempts, attempt: int, order_number: str, operation, error) -> Payment:
    """The gateway kept failing through the last attempt: record it, and fail the payment."""
    attempts.append(
        repository.Attempt(
            operation=operation,
            idempotency_key=gateway_key(payment.order_id, operation.value),
            outcome=AttemptOutcome.GAVE_UP,
            detail=f"{error} (attempt {attempt} of {settings.PAYMENT_MAX_ATTEMPTS})",
        )
    )
    return _fail(
        payment,
        attempts,
        attempt,
        order_number,
        "gateway_unavailable",
        f"The payment provider kept failing: {error}",
    )


def _settle(payment, attempts, attempt: int, order_number: str, capture) -> Payment:
    """The capture's answer: the payment captured, or failed with the gateway's reason."""
    if not capture.ok:
        return _fail(
            payment, attempts, attempt, order_number, capture.decline_code, capture.message
        )
    payment.gateway_reference = capture.reference
    return _captured(payment, attempts, attempt, order_number)


def _captured(
    payment: Payment, attempts: list[repository.Attempt], attempt: int, order_number: str
) -> Payment:
    state_machine.transition(payment, to=P.CAPTURED)
    payment.captured_at = timezone.now()
    repository.payment_save(payment, attempts, delivery_attempt=attempt)
    publish(
        PaymentCaptured(
            payment_id=payment.id,
            order_id=payment.order_id,
            shop_id=payment.shop_id,
            amount=payment.amount,
            currency=payment.currency,
            gateway_reference=payment.gateway_reference,
            order_number=order_number,
        )
    )
    return payment


def _call(
    attempts: list[repository.Attempt], order_id: UUID, operation: str, send
) -> GatewayResult:
    key = gateway_key(order_id, operation)
    result = send(key)
    attempts.append(
        repository.Attempt(
            operation=operation,
            idempotency_key=key,
            outcome=AttemptOutcome.SUCCEEDED if result.ok else AttemptOutcome.DECLINED,
            reference=result.reference,
            detail=result.message or result.decline_code,
        )
    )
    return result


def _fail(
    payment: Payment,
    attempts: list[repository.Attempt],
    attempt: int,
    order_number: str,
    decline_code: str,
    message: str,
) -> Payment:
    state_machine.transition(payment, to=P.FAILED)
    payment.decline_code = decline_code[:50]
    payment.failure_reason = message[:500]
    repository.payment_save(payment, attempts, delivery_attempt=attempt)
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
