"""The order saga end to end: the shops' API, a real Celery worker and beat, PostgreSQL, Redis.

Each test places an order through the API and waits for the worker to carry it through
stock, payment and invoice, then checks the whole trail: the order's transitions, the
events in the outbox, the payment and its gateway calls, the stock and the deliveries.
"""

from decimal import Decimal
from uuid import UUID

import pytest
from django.db.models import Q
from django.utils import timezone
from rest_framework.test import APIClient

from orderflow.events.projectors import projectors_due
from orderflow.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    OutboxEvent,
    ProjectorCheckpoint,
)
from orders.models import Order, OrderTransition, Product
from payments.gateway import SimulatedGateway
from payments.models import Invoice, Payment, PaymentAttempt, Refund
from payments.services.charging import gateway_key
from testkit.factories import ProductFactory, ShopFactory, api_key_for
from tests.fixtures import WORKER_ENV, event_work_settled, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CHARGE = "payments.charge_on_stock_reserved"
SAGA_SUBSCRIBERS = Q(subscriber__startswith="orders.") | Q(subscriber__startswith="payments.")
SETTLED_STATUSES = ("confirmed", "rejected", "cancelled")


@pytest.fixture
def shop():
    return ShopFactory(tax_rate=Decimal("0.2"))


@pytest.fixture
def api(shop) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(shop)}")
    return client


@pytest.fixture
def coffee(shop) -> Product:
    return ProductFactory(shop=shop, sku="COFFEE-1KG", price=Decimal("24.90"), on_hand=10)


def place(api: APIClient, *, token: str, lines: dict[str, int]) -> UUID:
    response = api.post(
        "/api/v1/orders",
        {
            "customer": {"name": "Ana Souza", "email": "ana@example.com"},
            "shipping_address": {
                "line1": "Rua A 1",
                "city": "São Paulo",
                "postal_code": "01000-000",
                "country": "BR",
            },
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines.items()],
            "payment": {"token": token},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return UUID(response.json()["id"])


def wait_until_settled(order_id: UUID, *, timeout: float = 30) -> Order:
    """Wait for the order to reach the end of the saga and for every delivery to finish."""
    wait_for(
        lambda: (
            Order.objects.filter(pk=order_id, status__in=SETTLED_STATUSES).exists()
            and event_work_settled()
        ),
        timeout=timeout,
        what=f"order {order_id} to settle",
    )
    return Order.objects.get(pk=order_id)


def transitions(order_id: UUID) -> list[tuple[str, str]]:
    return list(
        OrderTransition.objects.filter(order_id=order_id)
        .order_by("id")
        .values_list("from_status", "to_status")
    )


def order_events(order_id: UUID) -> list[tuple[int, str]]:
    return list(
        OutboxEvent.objects.filter(aggregate="order", aggregate_id=str(order_id))
        .order_by("sequence")
        .values_list("sequence", "type")
    )


def events_about(order_id: UUID, event_type: str) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type=event_type, data__order_id=str(order_id)))


def gateway_effects(order_id: UUID) -> dict[str, int]:
    return {
        operation: SimulatedGateway.effects(operation, gateway_key(order_id, operation))
        for operation in ("authorize", "capture", "refund")
    }


def payment_attempts(payment: Payment) -> list[tuple[str, str, int]]:
    return list(
        PaymentAttempt.objects.filter(payment=payment)
        .order_by("id")
        .values_list("operation", "outcome", "delivery_attempt")
    )


def charge_failures(order_id: UUID) -> list[str]:
    delivery = Delivery.objects.get(subscriber=CHARGE, aggregate_id=str(order_id))
    return list(
        DeliveryAttempt.objects.filter(delivery=delivery)
        .order_by("number")
        .values_list("error", flat=True)
    )


def assert_every_delivery_done() -> None:
    """No dead letter, nothing left to do: of the saga's own subscribers (tracking and
    notifications have their own tests)."""
    saga = Delivery.objects.filter(SAGA_SUBSCRIBERS)
    assert (
        list(saga.filter(status=DeliveryStatus.DEAD).values_list("subscriber", "last_error")) == []
    )
    assert set(saga.values_list("status", flat=True)) == {DeliveryStatus.DONE}


def test_happy_path_reserves_charges_confirms_and_invoices_in_order(event_workers, api, coffee):
    order_id = place(api, token="tok_ok", lines={"COFFEE-1KG": 2})

    order = wait_until_settled(order_id)

    assert order.status == "confirmed"
    assert transitions(order_id) == [
        ("placed", "reserved"),
        ("reserved", "paid"),
        ("paid", "confirmed"),
    ]
    # how fast is for the benchmark (docs/performance.md), never a timed test: on a loaded
    # machine a second proves nothing about the saga and fails for no fault of its own
    assert order_events(order_id) == [
        (1, "order.placed"),
        (2, "stock.reserved"),
        (3, "order.paid"),
        (4, "order.confirmed"),
    ]
    coffee.refresh_from_db()
    assert (coffee.on_hand, coffee.reserved) == (10, 2)  # held until shipped

    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.amount, payment.currency) == (
        "captured",
        Decimal("49.80"),
        "EUR",
    )
    assert payment.captured_at is not None
    assert payment_attempts(payment) == [("authorize", "succeeded", 1), ("capture", "succeeded", 1)]
    assert gateway_effects(order_id) == {"authorize": 1, "capture": 1, "refund": 0}
    [captured] = OutboxEvent.objects.filter(type="payment.captured")
    assert captured.data["order_id"] == str(order_id)
    assert captured.data["gateway_reference"] == payment.gateway_reference

    invoice = Invoice.objects.get(order_id=order_id)
    assert (invoice.kind, invoice.number, invoice.sequence) == (
        "invoice",
        f"{timezone.now().year}-000001",
        1,
    )
    assert (invoice.total, invoice.subtotal, invoice.tax) == (
        Decimal("49.80"),
        Decimal("41.50"),
        Decimal("8.30"),
    )
    [issued] = events_about(order_id, "invoice.issued")
    assert (issued.data["invoice_id"], issued.data["number"]) == (str(invoice.id), invoice.number)
    assert not Refund.objects.exists()
    assert_every_delivery_done()
    # nothing failed, nothing was retried
    assert not DeliveryAttempt.objects.filter(
        delivery__in=Delivery.objects.filter(SAGA_SUBSCRIBERS)
    )


@pytest.mark.parametrize(
    ("token", "decline_code", "message"),
    [
        ("tok_declined", "card_declined", "The card was declined."),
        ("tok_insufficient", "insufficient_funds", "Insufficient funds."),
    ],
)
def test_declined_card_cancels_the_order_and_restores_the_stock_exactly(
    event_workers, api, coffee, token, decline_code, message
):
    order_id = place(api, token=token, lines={"COFFEE-1KG": 3})

    order = wait_until_settled(order_id)

    assert (order.status, order.status_reason) == ("cancelled", f"Payment failed: {message}")
    assert transitions(order_id) == [("placed", "reserved"), ("reserved", "cancelled")]
    assert order_events(order_id) == [
        (1, "order.placed"),
        (2, "stock.reserved"),
        (3, "order.cancelled"),
    ]
    coffee.refresh_from_db()
    assert (coffee.on_hand, coffee.reserved) == (10, 0)
    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.decline_code, payment.failure_reason) == (
        "failed",
        decline_code,
        message,
    )
    assert payment_attempts(payment) == [("authorize", "declined", 1)]  # a decline is final
    assert gateway_effects(order_id) == {"authorize": 0, "capture": 0, "refund": 0}
    [failed] = events_about(order_id, "payment.failed")
    assert (failed.data["decline_code"], failed.data["reason"]) == (decline_code, message)
    assert not Refund.objects.exists()
    assert not Invoice.objects.exists()
    assert_every_delivery_done()


def test_transient_gateway_errors_are_retried_until_the_order_is_confirmed(
    event_workers, api, coffee
):
    # tok_flaky: the first two authorisations fail with a 503, the third succeeds
    order_id = place(api, token="tok_flaky", lines={"COFFEE-1KG": 1})

    order = wait_until_settled(order_id)

    assert order.status == "confirmed"
    assert transitions(order_id) == [
        ("placed", "reserved"),
        ("reserved", "paid"),
        ("paid", "confirmed"),
    ]
    assert charge_failures(order_id) == [
        "TransientGatewayError: gateway error 503 (flaky call 1)",
        "TransientGatewayError: gateway error 503 (flaky call 2)",
    ]
    payment = Payment.objects.get(order_id=order_id)
    assert payment.status == "captured"
    # the failed attempts rolled back with their delivery; the third one charged
    assert payment_attempts(payment) == [("authorize", "succeeded", 3), ("capture", "succeeded", 3)]
    assert SimulatedGateway.calls("authorize", gateway_key(order_id, "authorize")) == 3
    assert gateway_effects(order_id) == {"authorize": 1, "capture": 1, "refund": 0}
    assert len(events_about(order_id, "payment.captured")) == 1
    assert Invoice.objects.filter(order_id=order_id).count() == 1
    coffee.refresh_from_db()
    assert (coffee.on_hand, coffee.reserved) == (10, 1)
    assert_every_delivery_done()


def test_a_gateway_that_keeps_timing_out_fails_the_payment_and_restores_the_stock(
    event_workers, api, coffee
):
    max_attempts = int(WORKER_ENV["PAYMENT_MAX_ATTEMPTS"])  # 3; the delivery would allow 4
    order_id = place(api, token="tok_timeout", lines={"COFFEE-1KG": 4})

    order = wait_until_settled(order_id)

    reason = "The payment provider kept failing: gateway timeout"
    assert (order.status, order.status_reason) == ("cancelled", f"Payment failed: {reason}")
    assert transitions(order_id) == [("placed", "reserved"), ("reserved", "cancelled")]
    coffee.refresh_from_db()
    assert (coffee.on_hand, coffee.reserved) == (10, 0)
    # every attempt before the last was retried; the last one gave up by itself and
    # published payment.failed, so the delivery ended done rather than dead
    assert charge_failures(order_id) == ["TransientGatewayError: gateway timeout"] * (
        max_attempts - 1
    )
    delivery = Delivery.objects.get(subscriber=CHARGE, aggregate_id=str(order_id))
    assert (delivery.status, delivery.attempts) == ("done", max_attempts)
    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.decline_code) == ("failed", "gateway_unavailable")
    assert payment_attempts(payment) == [("authorize", "gave_up", max_attempts)]
    assert SimulatedGateway.calls("authorize", gateway_key(order_id, "authorize")) == max_attempts
    assert gateway_effects(order_id) == {"authorize": 0, "capture": 0, "refund": 0}
    [failed] = events_about(order_id, "payment.failed")
    assert (failed.data["decline_code"], failed.data["reason"]) == ("gateway_unavailable", reason)
    assert not Invoice.objects.exists()
    assert_every_delivery_done()


def test_not_enough_stock_rejects_the_order_without_charging(event_workers, api, coffee):
    order_id = place(api, token="tok_ok", lines={"COFFEE-1KG": 11})

    order = wait_until_settled(order_id)

    assert order.status == "rejected"
    assert order.status_reason == "Not enough stock: COFFEE-1KG (11 requested, 10 available)"
    assert transitions(order_id) == [("placed", "rejected")]
    assert order_events(order_id) == [(1, "order.placed"), (2, "order.rejected")]
    coffee.refresh_from_db()
    assert (coffee.on_hand, coffee.reserved) == (10, 0)
    assert not Payment.objects.exists()
    assert gateway_effects(order_id) == {"authorize": 0, "capture": 0, "refund": 0}
    assert_every_delivery_done()


def test_cancelling_a_confirmed_order_refunds_once_and_credits_the_invoice(
    event_workers, api, coffee
):
    order_id = place(api, token="tok_ok", lines={"COFFEE-1KG": 2})
    wait_until_settled(order_id)

    response = api.post(f"/api/v1/orders/{order_id}/cancel", {"reason": "gift"}, format="json")

    assert response.status_code == 200, response.content
    order = wait_until_settled(order_id)
    assert order.status == "cancelled"
    assert transitions(order_id)[-1] == ("confirmed", "cancelled")
    coffee.refresh_from_db()
    assert (coffee.on_hand, coffee.reserved) == (10, 0)
    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.refunded_amount) == ("refunded", Decimal("49.80"))
    [refund] = Refund.objects.filter(payment=payment)
    assert (refund.amount, refund.status, refund.reason) == (Decimal("49.80"), "succeeded", "gift")
    assert gateway_effects(order_id) == {"authorize": 1, "capture": 1, "refund": 1}
    assert len(events_about(order_id, "payment.refunded")) == 1
    year = timezone.now().year
    assert sorted(
        Invoice.objects.filter(order_id=order_id).values_list("kind", "number", "total")
    ) == [
        ("credit_note", f"{year}-000002", Decimal("-49.80")),
        ("invoice", f"{year}-000001", Decimal("49.80")),
    ]
    assert_every_delivery_done()


def test_the_saga_completes_while_no_projector_or_sender_runs(event_workers, api, coffee):
    # the saga lane has its own queue and worker process: with the general worker (the
    # projectors, the senders, beat's sweeps) stopped, an order still goes all the way
    event_workers.flow.stop()

    order_id = place(api, token="tok_ok", lines={"COFFEE-1KG": 1})

    wait_for(
        lambda: Invoice.objects.filter(order_id=order_id).exists(),
        timeout=60,
        what="the order's invoice, the saga's last step",
    )
    assert Order.objects.get(pk=order_id).status == "confirmed"
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DONE}
    # and no projector ran meanwhile: they wait for the general worker
    assert projectors_due()
    assert not ProjectorCheckpoint.objects.filter(position__gt=0).exists()
