"""The payments context's subscribers, run in-process through the relay."""

import pytest
from django.utils import timezone

from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.relay import relay_batch
from orderflow.events.subscribers import get_subscriber
from orderflow.models import OutboxEvent
from payments.models import Invoice, Payment, PaymentAttempt, Refund
from testkit.payments import cancel, captured_order, confirmed_order, reserved_order

pytestmark = pytest.mark.django_db


def _run(subscriber: str) -> str:
    """Relay what was published, then run the one delivery of ``subscriber``."""
    relay_batch()
    (delivery,) = [d for d in claim_batch() if d.subscriber == subscriber]
    return run_delivery(delivery)


def test_the_charge_is_delivered_at_least_as_often_as_it_may_retry(settings):
    charge = get_subscriber("payments.charge_on_stock_reserved")

    assert charge.max_attempts >= settings.PAYMENT_MAX_ATTEMPTS
    assert charge.max_attempts >= settings.EVENTS_MAX_ATTEMPTS


def test_stock_reserved_charges_the_order_once(shop, products):
    order = reserved_order(shop)
    relay_batch()
    (delivery,) = [d for d in claim_batch() if d.subscriber == "payments.charge_on_stock_reserved"]

    outcomes = (run_delivery(delivery), run_delivery(delivery))

    assert outcomes == ("done", "duplicate")
    payment = Payment.objects.get(order_id=order.pk)
    assert payment.status == "captured"
    assert list(PaymentAttempt.objects.values_list("operation", "delivery_attempt")) == [
        ("authorize", 1),
        ("capture", 1),
    ]
    reserved = OutboxEvent.objects.get(type="stock.reserved")
    captured = OutboxEvent.objects.get(type="payment.captured")
    assert captured.causation_id == str(reserved.event_id)


def test_order_confirmed_issues_the_invoice(shop, products):
    order, _ = confirmed_order(shop)

    assert _run("payments.issue_invoice_on_order_confirmed") == "done"

    assert list(Invoice.objects.values_list("order_id", "kind", "number")) == [
        (order.pk, "invoice", f"{timezone.now().year}-000001")
    ]


def test_order_cancelled_refunds_a_capture(shop, products):
    order, payment = captured_order(shop)
    cancel(order)

    assert _run("payments.refund_on_order_cancelled") == "done"

    assert Payment.objects.get().status == "refunded"
    assert list(Refund.objects.values_list("payment_id", "amount", "reason")) == [
        (payment.pk, payment.amount, "late")
    ]


def test_order_cancelled_before_confirmation_issues_no_credit_note(shop, products):
    cancel(reserved_order(shop))

    assert _run("payments.issue_credit_note_on_order_cancelled") == "done"

    assert Invoice.objects.count() == 0
