"""Charging an order once: captured, declined for good, or retried through transient errors."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.relay import relay_batch
from orderflow.models import Delivery, OutboxEvent
from payments.gateway import SimulatedGateway, TransientGatewayError
from payments.models import Payment, PaymentAttempt
from payments.services import payment_charge
from testkit.payments import cancel, reserved_order

pytestmark = pytest.mark.django_db


def _key(order, operation: str) -> str:
    return f"order-{order.pk}-{operation}"


def _payment_events() -> list[tuple[str, str, int, dict]]:
    return list(
        OutboxEvent.objects.filter(aggregate="payment")
        .order_by("created_at", "sequence")
        .values_list("type", "aggregate_id", "sequence", "data")
    )


def _attempts(payment) -> list[tuple[str, str, str, int]]:
    return list(
        PaymentAttempt.objects.filter(payment=payment).values_list(
            "operation", "idempotency_key", "outcome", "delivery_attempt"
        )
    )


def test_captures_the_total_and_publishes_payment_captured(shop, products):
    order = reserved_order(shop)

    payment = payment_charge(order_id=order.pk, attempt=1)

    saved = Payment.objects.get()
    assert saved.pk == payment.pk
    assert (saved.order_id, saved.shop_id, saved.amount, saved.currency, saved.status) == (
        order.pk,
        shop.pk,
        order.total,
        "EUR",
        "captured",
    )
    assert str(saved.amount) == "59.70"
    assert saved.authorization_reference.startswith("sim_auth_")
    assert saved.gateway_reference.startswith("sim_cap_")
    assert saved.captured_at is not None
    assert (saved.decline_code, saved.failure_reason, saved.refunded_amount) == ("", "", 0)
    assert _attempts(saved) == [
        ("authorize", _key(order, "authorize"), "succeeded", 1),
        ("capture", _key(order, "capture"), "succeeded", 1),
    ]
    assert list(PaymentAttempt.objects.values_list("reference", flat=True)) == [
        saved.authorization_reference,
        saved.gateway_reference,
    ]
    assert _payment_events() == [
        (
            "payment.captured",
            str(saved.pk),
            1,
            {
                "payment_id": str(saved.pk),
                "order_id": str(order.pk),
                "shop_id": shop.pk,
                "amount": "59.70",
                "currency": "EUR",
                "gateway_reference": saved.gateway_reference,
                "order_number": order.number,
            },
        )
    ]
    assert SimulatedGateway.effects("authorize", _key(order, "authorize")) == 1
    assert SimulatedGateway.effects("capture", _key(order, "capture")) == 1


def test_a_second_call_for_the_same_order_charges_nothing_more(shop, products):
    order = reserved_order(shop)
    first = payment_charge(order_id=order.pk, attempt=1)

    again = payment_charge(order_id=order.pk, attempt=2)

    assert (again.pk, again.status, again.gateway_reference) == (
        first.pk,
        "captured",
        first.gateway_reference,
    )
    assert Payment.objects.count() == 1
    assert PaymentAttempt.objects.count() == 2
    assert [event[0] for event in _payment_events()] == ["payment.captured"]
    assert SimulatedGateway.calls("capture", _key(order, "capture")) == 1
    assert SimulatedGateway.effects("capture", _key(order, "capture")) == 1


@pytest.mark.parametrize(
    ("token", "decline_code", "message"),
    [
        ("tok_declined", "card_declined", "The card was declined."),
        ("tok_insufficient", "insufficient_funds", "Insufficient funds."),
    ],
)
def test_a_decline_fails_the_payment_for_good(shop, products, token, decline_code, message):
    order = reserved_order(shop, payment_token=token)

    payment = payment_charge(order_id=order.pk, attempt=1)

    saved = Payment.objects.get()
    assert (saved.status, saved.decline_code, saved.failure_reason) == (
        "failed",
        decline_code,
        message,
    )
    assert (saved.authorization_reference, saved.gateway_reference) == ("", "")
    assert payment.status == "failed"
    assert _attempts(saved) == [("authorize", _key(order, "authorize"), "declined", 1)]
    assert _payment_events() == [
        (
            "payment.failed",
            str(saved.pk),
            1,
            {
                "payment_id": str(saved.pk),
                "order_id": str(order.pk),
                "shop_id": shop.pk,
                "amount": "59.70",
                "currency": "EUR",
                "decline_code": decline_code,
                "reason": message,
                "order_number": order.number,
            },
        )
    ]

    payment_charge(order_id=order.pk, attempt=2)

    assert Payment.objects.get().status == "failed"
    assert PaymentAttempt.objects.count() == 1
    assert len(_payment_events()) == 1
    assert SimulatedGateway.calls("authorize", _key(order, "authorize")) == 1


def test_a_transient_error_is_raised_for_a_retry_and_leaves_nothing_behind(shop, products):
    order = reserved_order(shop, payment_token="tok_timeout")

    # the step runs in its delivery's transaction (no savepoint of its own)
    with pytest.raises(TransientGatewayError, match="gateway timeout"), transaction.atomic():
        payment_charge(order_id=order.pk, attempt=1)

    assert Payment.objects.count() == 0
    assert PaymentAttempt.objects.count() == 0
    assert _payment_events() == []
    assert SimulatedGateway.calls("authorize", _key(order, "authorize")) == 1


def test_transient_errors_fail_the_payment_at_the_last_attempt(settings, shop, products):
    settings.PAYMENT_MAX_ATTEMPTS = 3
    order = reserved_order(shop, payment_token="tok_timeout")
    for attempt in (1, 2):
        with pytest.raises(TransientGatewayError), transaction.atomic():  # the delivery's
            payment_charge(order_id=order.pk, attempt=attempt)

    payment = payment_charge(order_id=order.pk, attempt=3)

    reason = "The payment provider kept failing: gateway timeout"
    saved = Payment.objects.get()
    assert (payment.status, saved.status, saved.decline_code, saved.failure_reason) == (
        "failed",
        "failed",
        "gateway_unavailable",
        reason,
    )
    assert _attempts(saved) == [("authorize", _key(order, "authorize"), "gave_up", 3)]
    assert PaymentAttempt.objects.get().detail == "gateway timeout (attempt 3 of 3)"
    assert _payment_events() == [
        (
            "payment.failed",
            str(saved.pk),
            1,
            {
                "payment_id": str(saved.pk),
                "order_id": str(order.pk),
                "shop_id": shop.pk,
                "amount": "59.70",
                "currency": "EUR",
                "decline_code": "gateway_unavailable",
                "reason": reason,
                "order_number": order.number,
            },
        )
    ]
    assert SimulatedGateway.calls("authorize", _key(order, "authorize")) == 3


def test_tok_flaky_is_captured_on_the_third_attempt(shop, products):
    order = reserved_order(shop, payment_token="tok_flaky")
    for attempt in (1, 2):
        with pytest.raises(TransientGatewayError), transaction.atomic():  # the delivery's
            payment_charge(order_id=order.pk, attempt=attempt)

    payment = payment_charge(order_id=order.pk, attempt=3)

    assert payment.status == "captured"
    assert _attempts(payment) == [
        ("authorize", _key(order, "authorize"), "succeeded", 3),
        ("capture", _key(order, "capture"), "succeeded", 3),
    ]
    assert [event[0] for event in _payment_events()] == ["payment.captured"]
    assert SimulatedGateway.effects("authorize", _key(order, "authorize")) == 1
    assert SimulatedGateway.effects("capture", _key(order, "capture")) == 1


def test_an_order_cancelled_before_the_charge_voids_the_payment_without_a_gateway_call(
    shop, products
):
    order = reserved_order(shop)
    cancel(order)

    payment = payment_charge(order_id=order.pk, attempt=1)

    saved = Payment.objects.get()
    assert (payment.status, saved.status, saved.amount) == ("voided", "voided", order.total)
    assert PaymentAttempt.objects.count() == 0
    assert _payment_events() == []
    assert SimulatedGateway.calls("authorize", _key(order, "authorize")) == 0


def test_the_delivery_of_stock_reserved_retries_the_charge_until_it_gives_up(
    settings, shop, products
):
    settings.PAYMENT_MAX_ATTEMPTS = 3
    order = reserved_order(shop, payment_token="tok_timeout")
    relay_batch()
    outcomes = []

    for _ in range(3):
        Delivery.objects.update(available_at=timezone.now() - timedelta(seconds=1))
        (delivery,) = [
            d for d in claim_batch() if d.subscriber == "payments.charge_on_stock_reserved"
        ]
        outcomes.append((delivery.attempts, run_delivery(delivery)))

    assert outcomes == [(1, "retry"), (2, "retry"), (3, "done")]
    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.status, payment.decline_code) == ("failed", "gateway_unavailable")
    assert [event[0] for event in _payment_events()] == ["payment.failed"]


class _LostCommit(Exception):
    """The worker died after the gateway answered, before its transaction committed."""


def _charge_and_lose_the_commit(order, charged: list) -> None:
    with transaction.atomic():
        charged.append(payment_charge(order_id=order.pk, attempt=1))
        raise _LostCommit


def test_a_retry_after_a_lost_commit_replays_the_gateway_and_charges_once(shop, products):
    order = reserved_order(shop)
    charged = []
    with pytest.raises(_LostCommit):
        _charge_and_lose_the_commit(order, charged)
    assert (Payment.objects.count(), PaymentAttempt.objects.count(), _payment_events()) == (
        0,
        0,
        [],
    )

    payment = payment_charge(order_id=order.pk, attempt=2)

    assert payment.status == "captured"
    assert (payment.authorization_reference, payment.gateway_reference) == (
        charged[0].authorization_reference,
        charged[0].gateway_reference,
    )
    assert [event[0] for event in _payment_events()] == ["payment.captured"]
    assert SimulatedGateway.calls("capture", _key(order, "capture")) == 2
    assert SimulatedGateway.effects("authorize", _key(order, "authorize")) == 1
    assert SimulatedGateway.effects("capture", _key(order, "capture")) == 1
