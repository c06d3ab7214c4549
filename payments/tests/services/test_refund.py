"""A cancelled order's money goes back exactly once; a charge not made yet is voided."""

import pytest
from django.db import transaction

from orderflow.models import OutboxEvent
from payments.gateway import SimulatedGateway
from payments.models import Payment, PaymentAttempt, Refund
from payments.services import payment_charge, payment_refund_for_cancelled_order
from testkit.payments import cancel, captured_order, confirmed_order, reserved_order

pytestmark = pytest.mark.django_db


def _refund_key(order) -> str:
    return f"order-{order.pk}-refund"


def _payment_events(payment) -> list[tuple[int, str]]:
    return list(
        OutboxEvent.objects.filter(aggregate="payment", aggregate_id=str(payment.pk))
        .order_by("sequence")
        .values_list("sequence", "type")
    )


@pytest.mark.parametrize("make", [captured_order, confirmed_order])
def test_refunds_a_captured_payment_of_a_cancelled_order(shop, products, make):
    order, payment = make(shop)
    cancel(order)

    refunded = payment_refund_for_cancelled_order(order_id=order.pk, reason="late", attempt=1)

    saved = Payment.objects.get(pk=payment.pk)
    assert (refunded.status, saved.status, saved.refunded_amount) == (
        "refunded",
        "refunded",
        saved.amount,
    )
    refund = Refund.objects.get()
    assert (
        refund.payment_id,
        refund.amount,
        refund.currency,
        refund.status,
        refund.idempotency_key,
        refund.reason,
    ) == (saved.pk, saved.amount, "EUR", "succeeded", _refund_key(order), "late")
    assert refund.gateway_reference.startswith("sim_ref_")
    assert list(
        PaymentAttempt.objects.filter(operation="refund").values_list(
            "idempotency_key", "outcome", "reference", "delivery_attempt"
        )
    ) == [(_refund_key(order), "succeeded", refund.gateway_reference, 1)]
    assert _payment_events(saved) == [(1, "payment.captured"), (2, "payment.refunded")]
    assert OutboxEvent.objects.get(type="payment.refunded").data == {
        "payment_id": str(saved.pk),
        "refund_id": str(refund.pk),
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "amount": "59.70",
        "currency": "EUR",
        "reason": "late",
        "order_number": order.number,
        "on_request": False,  # the cancellation's refund: its e-mail tells it
        "credit_note": "",  # the cancellation's credit note is issued on order.cancelled
        "restocked": False,
    }
    assert SimulatedGateway.effects("refund", _refund_key(order)) == 1


def test_a_second_run_refunds_nothing_more(shop, products):
    order, payment = confirmed_order(shop)
    cancel(order)
    payment_refund_for_cancelled_order(order_id=order.pk, reason="late", attempt=1)

    again = payment_refund_for_cancelled_order(order_id=order.pk, reason="late", attempt=2)

    assert again.status == "refunded"
    assert Refund.objects.count() == 1
    assert PaymentAttempt.objects.filter(operation="refund").count() == 1
    assert OutboxEvent.objects.filter(type="payment.refunded").count() == 1
    assert Payment.objects.get().refunded_amount == payment.amount
    assert SimulatedGateway.calls("refund", _refund_key(order)) == 1
    assert SimulatedGateway.effects("refund", _refund_key(order)) == 1


def test_a_cancel_before_the_charge_voids_the_payment_and_the_late_charge_does_nothing(
    shop, products
):
    order = reserved_order(shop)
    cancel(order)

    voided = payment_refund_for_cancelled_order(order_id=order.pk, reason="late", attempt=1)
    late = payment_charge(order_id=order.pk, attempt=1)

    assert (voided.status, late.status, Payment.objects.get().status) == (
        "voided",
        "voided",
        "voided",
    )
    assert Refund.objects.count() == 0
    assert PaymentAttempt.objects.count() == 0
    assert OutboxEvent.objects.filter(aggregate="payment").count() == 0
    assert SimulatedGateway.calls("authorize", f"order-{order.pk}-authorize") == 0
    assert SimulatedGateway.calls("refund", _refund_key(order)) == 0


def test_a_failed_payment_has_nothing_to_give_back(shop, products):
    order = reserved_order(shop, payment_token="tok_declined")
    payment_charge(order_id=order.pk, attempt=1)
    cancel(order)
    events = OutboxEvent.objects.filter(aggregate="payment").count()

    result = payment_refund_for_cancelled_order(order_id=order.pk, reason="late", attempt=1)

    assert (result.status, Payment.objects.get().status) == ("failed", "failed")
    assert Refund.objects.count() == 0
    assert PaymentAttempt.objects.filter(operation="refund").count() == 0
    assert OutboxEvent.objects.filter(aggregate="payment").count() == events
    assert SimulatedGateway.calls("refund", _refund_key(order)) == 0


class _LostCommit(Exception):
    """The worker died after the gateway refunded, before its transaction committed."""


def _refund_and_lose_the_commit(order, refunds: list) -> None:
    with transaction.atomic():
        payment_refund_for_cancelled_order(order_id=order.pk, reason="late", attempt=1)
        refunds.append(Refund.objects.get())
        raise _LostCommit


def test_a_retry_after_a_lost_commit_replays_the_refund_and_refunds_once(shop, products):
    order, _ = confirmed_order(shop)
    cancel(order)
    refunds = []
    with pytest.raises(_LostCommit):
        _refund_and_lose_the_commit(order, refunds)
    assert (Refund.objects.count(), Payment.objects.get().status) == (0, "captured")

    payment_refund_for_cancelled_order(order_id=order.pk, reason="late", attempt=2)

    refund = Refund.objects.get()
    assert (refund.gateway_reference, refund.amount) == (
        refunds[0].gateway_reference,
        refunds[0].amount,
    )
    assert Payment.objects.get().status == "refunded"
    assert OutboxEvent.objects.filter(type="payment.refunded").count() == 1
    assert SimulatedGateway.calls("refund", _refund_key(order)) == 2
    assert SimulatedGateway.effects("refund", _refund_key(order)) == 1
