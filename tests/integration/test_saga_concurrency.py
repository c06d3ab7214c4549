"""The order saga under concurrency: many buyers, shared SKUs, cancels racing captures,
the same event handled twice at once, invoice and credit note in either order.

The first tests send orders through the shops' API from threads in this process (each
thread with its own client and database connection) while a real Celery worker (two
processes) and beat run the saga, as in production. The cancel races hold the worker's
gateway call at a gate (``GatewayGate``) while the shop cancels, so each interleaving is
forced, never hoped for from timing. The last ones run single handlers in this process,
to pin down one interleaving that a worker would only hit by chance.
"""

import random
import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple
from uuid import UUID

import pytest
from django.db import connection
from django.db.models import Q, Sum
from django.utils import timezone
from rest_framework.test import APIClient

from orderflow.events.lane import run_delivery
from orderflow.events.pump import drain
from orderflow.events.relay import relay_batch
from orderflow.models import Delivery, DeliveryAttempt, DeliveryStatus, OutboxEvent
from orders import services as order_services
from orders.models import Order, OrderLine, OrderTransition, Product
from orders.services.lifecycle import HOLDING_STOCK
from orders.services.reconcile import stock_reconcile
from payments.gateway import GatewayGate, SimulatedGateway
from payments.models import Invoice, Payment, PaymentAttempt, Refund
from payments.services import payment_charge
from payments.services.charging import gateway_key
from testkit.factories import ProductFactory, ShopFactory, api_key_for, order_for
from tests.fixtures import event_work_settled, handle_again, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SAGA_SUBSCRIBERS = Q(subscriber__startswith="orders.") | Q(subscriber__startswith="payments.")
ADDRESS = {"line1": "Rua A 1", "city": "São Paulo", "postal_code": "01000-000", "country": "BR"}


def order_body(lines: list[tuple[str, int]], card: str = "tok_ok") -> dict:
    return {
        "customer": {"name": "Ana Souza", "email": "ana@example.com"},
        "shipping_address": ADDRESS,
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        "payment": {"token": card},
    }


def in_threads(count: int, work: Callable[[int], object]) -> list:
    """Run ``work(i)`` for i in range(count) on ``count`` threads released together.

    Each thread closes its database connection (returns it to the pool) when done; a
    thread that raised leaves None in its slot, which the caller's assertions show.
    """
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def post_orders(raw_key: str, bodies: list[dict], *, threads: int = 20) -> list:
    """POST every body to the API at once from ``threads`` clients; return the responses."""

    def send(worker: int) -> list:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        return [
            (index, client.post("/api/v1/orders", bodies[index], format="json"))
            for index in range(worker, len(bodies), threads)
        ]

    responses: list = [None] * len(bodies)
    for batch in in_threads(threads, send):
        for index, response in batch or []:
            responses[index] = response
    return responses


class StockSampler:
    """Read the products' stock rows in a loop on its own connection while the saga runs.

    It also reads them once before the race and once after it, on the test's connection,
    so that the first and last samples bracket the race however few the loop took on a
    loaded machine.
    """

    def __init__(self, product_ids: list[int]):
        self.product_ids = product_ids
        self.samples: list[tuple[int, int, int]] = []  # (product id, on hand, reserved)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> "StockSampler":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        self.samples.extend(
            Product.objects.filter(pk__in=self.product_ids)
            .order_by("pk")
            .values_list("pk", "on_hand", "reserved")
        )

    def _run(self) -> None:
        try:
            while not self._stop.wait(0.005):  # paces the reads; nothing waits on it
                self._sample()
        finally:
            connection.close()


class ExtraWorkers:
    """Drain deliveries from threads of this process beside the Celery worker's two
    processes, as more worker processes would: more reservations run at the same time."""

    def __init__(self, count: int):
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(count)]

    def __enter__(self) -> "ExtraWorkers":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not drain(max_seconds=1).handled:
                    self._stop.wait(0.01)  # idle: look again soon, or stop at once
        finally:
            connection.close()


def statuses() -> Counter:
    return Counter(Order.objects.values_list("status", flat=True))


def wait_for_all_settled(count: int, *, timeout: float = 90) -> None:
    final = ("confirmed", "rejected", "cancelled")
    wait_for(
        lambda: Order.objects.filter(status__in=final).count() == count and event_work_settled(),
        timeout=timeout,
        what=f"{count} orders to settle",
    )


def assert_saga_deliveries_done_without_failures() -> None:
    """Every delivery of the saga ran once and succeeded: no deadlock, no retry, no dead letter."""
    saga = Delivery.objects.filter(SAGA_SUBSCRIBERS)
    failures = DeliveryAttempt.objects.filter(delivery__in=saga)
    assert list(failures.values_list("delivery__subscriber", "error")) == []
    assert set(saga.values_list("status", flat=True)) == {DeliveryStatus.DONE}


def held_units(product: Product) -> int:
    """Units the product's open orders hold, counted from their lines."""
    return (
        OrderLine.objects.filter(product=product, order__status__in=HOLDING_STOCK).aggregate(
            units=Sum("quantity")
        )["units"]
        or 0
    )


@pytest.fixture
def shop():
    return ShopFactory()


@pytest.fixture
def raw_key(shop) -> str:
    return api_key_for(shop)


def test_200_buyers_for_50_units_confirm_exactly_50_and_stock_never_goes_negative(
    event_workers, shop, raw_key
):
    product = ProductFactory(shop=shop, sku="LAST-50", price=Decimal("10.00"), on_hand=50)

    with StockSampler([product.pk]) as sampler:
        responses = post_orders(raw_key, [order_body([("LAST-50", 1)])] * 200)
        wait_for_all_settled(200)

    assert [getattr(r, "status_code", None) for r in responses] == [201] * 200
    assert statuses() == {"confirmed": 50, "rejected": 150}
    product.refresh_from_db()
    # nothing shipped: every confirmed unit is still on hand, held for its order
    assert (product.on_hand, product.reserved, product.available) == (50, 50, 0)
    reserved_seen = [reserved for _, _, reserved in sampler.samples]
    # the sampler watched the whole race: from nothing held to all 50 units
    assert (reserved_seen[0], reserved_seen[-1]) == (0, 50)
    assert all(on_hand == 50 for _, on_hand, _ in sampler.samples)
    assert all(0 <= reserved <= 50 for reserved in reserved_seen)  # available never < 0
    # nothing was cancelled, so the reservations only ever grew
    assert reserved_seen == sorted(reserved_seen)
    assert set(Order.objects.filter(status="rejected").values_list("status_reason", flat=True)) == {
        "Not enough stock: LAST-50 (1 requested, 0 available)"
    }
    assert Payment.objects.filter(status="captured").count() == 50
    assert Payment.objects.count() == 50  # the rejected were never charged
    year = timezone.now().year
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [
        f"{year}-{n:06d}" for n in range(1, 51)
    ]
    assert_saga_deliveries_done_without_failures()


def test_100_orders_over_5_shared_skus_in_random_line_order_never_deadlock(
    event_workers, shop, raw_key
):
    # Each order lists its SKUs in its own random order; reservations must still lock the
    # rows in one global order, or two orders would each hold a row the other waits for.
    # Six reservations can run at once: the worker's two processes and four threads here.
    rng = random.Random(20260501)  # fixed: a failure replays the same orders
    skus = [f"SKU-{n}" for n in range(5)]
    products = [ProductFactory(shop=shop, sku=sku, on_hand=80) for sku in skus]
    bodies = []
    for n in range(100):
        chosen = rng.sample(skus, k=rng.randint(2, 5))  # random order, no repeats
        card = "tok_declined" if n % 5 == 0 else "tok_ok"  # declines release concurrently
        bodies.append(order_body([(sku, rng.randint(1, 3)) for sku in chosen], card))

    with StockSampler([p.pk for p in products]) as sampler, ExtraWorkers(4):
        responses = post_orders(raw_key, bodies)
        wait_for_all_settled(100)

    assert [getattr(r, "status_code", None) for r in responses] == [201] * 100
    by_status = statuses()
    assert sum(by_status.values()) == 100
    assert set(by_status) <= {"confirmed", "rejected", "cancelled"}
    assert by_status["confirmed"] > 0
    assert by_status["rejected"] > 0  # demand (~140 a SKU) exceeds the 80 on hand
    declined = {
        UUID(response.json()["id"])
        for response, body in zip(responses, bodies, strict=True)
        if body["payment"]["token"] == "tok_declined"
    }
    assert not Order.objects.filter(pk__in=declined, status="confirmed").exists()
    assert set(Order.objects.filter(status="cancelled").values_list("pk", flat=True)) <= declined
    for product in products:
        product.refresh_from_db()
        assert product.on_hand == 80
        assert product.reserved == held_units(product)
    assert stock_reconcile() == []
    # the sampler watched the whole race: from nothing held to what the open orders hold
    first, last = sampler.samples[: len(products)], sampler.samples[-len(products) :]
    assert first == [(p.pk, 80, 0) for p in sorted(products, key=lambda p: p.pk)]
    assert last == [(p.pk, 80, p.reserved) for p in sorted(products, key=lambda p: p.pk)]
    assert all(0 <= reserved <= on_hand == 80 for _, on_hand, reserved in sampler.samples)
    assert_saga_deliveries_done_without_failures()


def cancel_by_the_shop(raw_key: str, order_id: UUID):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client.post(f"/api/v1/orders/{order_id}/cancel", {"reason": "race"}, format="json")


def gateway_effects(order_id: UUID) -> dict[str, int]:
    return {
        operation: SimulatedGateway.effects(operation, gateway_key(order_id, operation))
        for operation in ("authorize", "capture", "refund")
    }


def order_transitions(order_id: UUID) -> list[tuple[str, str]]:
    return list(
        OrderTransition.objects.filter(order_id=order_id)
        .order_by("id")
        .values_list("from_status", "to_status")
    )


class CancelRace(NamedTuple):
    held: str | None  # the gateway call held at its gate while the shop cancels
    effects_at_cancel: dict[str, int]  # what the gateway had done when the shop cancelled
    previous_status: str  # the order's status the cancel found
    order_path: list[tuple[str, str]]
    invoices: dict[str, int]


NONE_YET = {"authorize": 0, "capture": 0, "refund": 0}
DIRECT = [("placed", "reserved"), ("reserved", "cancelled")]

#: The interleavings a worker would only hit by chance, each forced by a gate: the shop's
#: cancel lands while the gateway holds the charge's authorisation (nothing captured yet),
#: while it holds the capture (the charge's transaction holds the payment row), or, with no
#: gate, once the order is confirmed. Whenever it lands, the capture made after it is
#: refunded exactly once.
CANCEL_RACES = {
    "cancel-during-authorize": CancelRace("authorize", NONE_YET, "reserved", DIRECT, {}),
    "cancel-during-capture": CancelRace(
        "capture", {**NONE_YET, "authorize": 1}, "reserved", DIRECT, {}
    ),
    "cancel-after-confirm": CancelRace(
        None,
        {**NONE_YET, "authorize": 1, "capture": 1},
        "confirmed",
        [
            ("placed", "reserved"),
            ("reserved", "paid"),
            ("paid", "confirmed"),
            ("confirmed", "cancelled"),
        ],
        {"invoice": 1, "credit_note": 1},
    ),
}


@pytest.mark.parametrize("race", list(CANCEL_RACES.values()), ids=list(CANCEL_RACES))
def test_a_cancel_racing_the_charge_refunds_the_capture_exactly_once(
    event_workers, shop, raw_key, race
):
    # given an order whose charge is held at the gateway (or, without a gate, confirmed)
    held = race.held
    product = ProductFactory(shop=shop, sku="RACE", price=Decimal("12.50"), on_hand=100)
    if held:
        GatewayGate.close(held)  # any key: the order's id is not known before it is placed
    try:
        [placed] = post_orders(raw_key, [order_body([("RACE", 2)])], threads=1)
        order_id = UUID(placed.json()["id"])
        if held:
            wait_for(
                lambda: GatewayGate.held(held, gateway_key(order_id, held)),
                timeout=60,
                what=f"the {held} call of order {order_id} to be held",
            )
        else:
            wait_for(
                lambda: Order.objects.filter(pk=order_id, status="confirmed").exists(),
                timeout=60,
                what=f"order {order_id} to be confirmed",
            )

        # when the shop cancels it (while the call is held), then the gate opens; what the
        # gateway had done is read before the cancel, since its refund may follow at once
        effects_at_cancel = gateway_effects(order_id)
        cancel = cancel_by_the_shop(raw_key, order_id)
        still_held = bool(held) and GatewayGate.held(held, gateway_key(order_id, held))
    finally:
        if held:
            GatewayGate.open(held)
    wait_for_all_settled(1)

    # then the cancel won at once, and the charge that was in flight was given back
    assert (cancel.status_code, cancel.json()["status"]) == (200, "cancelled")
    assert (still_held, effects_at_cancel) == (bool(held), race.effects_at_cancel)
    [cancelled] = OutboxEvent.objects.filter(type="order.cancelled", aggregate_id=str(order_id))
    assert cancelled.data["previous_status"] == race.previous_status
    assert order_transitions(order_id) == race.order_path
    assert statuses() == {"cancelled": 1}
    product.refresh_from_db()
    assert (product.on_hand, product.reserved) == (100, 0)
    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.refunded_amount) == ("refunded", Decimal("25.00"))
    assert list(
        PaymentAttempt.objects.filter(payment=payment)
        .order_by("id")
        .values_list("operation", "outcome")
    ) == [("authorize", "succeeded"), ("capture", "succeeded"), ("refund", "succeeded")]
    assert gateway_effects(order_id) == {"authorize": 1, "capture": 1, "refund": 1}
    assert list(Refund.objects.filter(payment=payment).values_list("amount", "status")) == [
        (Decimal("25.00"), "succeeded")
    ]
    assert [
        OutboxEvent.objects.filter(type=t, data__order_id=str(order_id)).count()
        for t in ("payment.captured", "payment.refunded")
    ] == [1, 1]
    assert (
        Counter(Invoice.objects.filter(order_id=order_id).values_list("kind", flat=True))
        == race.invoices
    )
    assert_saga_deliveries_done_without_failures()


@pytest.mark.parametrize("first", ["charge", "refund"])
def test_a_cancel_before_the_charge_voids_it_and_the_gateway_is_never_called(shop, raw_key, first):
    # given an order whose stock is held and whose charge has not started
    product = ProductFactory(shop=shop, sku="RACE", price=Decimal("12.50"), on_hand=100)
    order = order_for(shop, lines={"RACE": 2})
    saga_step(order.id, "order.placed", "orders.reserve_stock_on_order_placed")

    # when the shop cancels it, and the charge and the refund then run in either order
    cancel = cancel_by_the_shop(raw_key, order.id)
    while relay_batch():
        pass
    charge = delivery_of("stock.reserved", "payments.charge_on_stock_reserved")
    refund = delivery_of("order.cancelled", "payments.refund_on_order_cancelled")
    pair = (charge, refund) if first == "charge" else (refund, charge)
    outcomes = [run_delivery(delivery) for delivery in pair]

    # then the charge is voided and nothing reached the gateway
    assert (cancel.status_code, cancel.json()["status"]) == (200, "cancelled")
    assert outcomes == ["done", "done"]
    [cancelled] = OutboxEvent.objects.filter(type="order.cancelled", aggregate_id=str(order.id))
    assert cancelled.data["previous_status"] == "reserved"
    product.refresh_from_db()
    assert (product.on_hand, product.reserved) == (100, 0)
    payment = Payment.objects.get(order_id=order.id)
    assert (payment.status, payment.refunded_amount) == ("voided", Decimal("0"))
    assert not PaymentAttempt.objects.exists()
    assert not Refund.objects.exists()
    assert {
        operation: SimulatedGateway.calls(operation, gateway_key(order.id, operation))
        for operation in ("authorize", "capture", "refund")
    } == {"authorize": 0, "capture": 0, "refund": 0}
    assert not OutboxEvent.objects.filter(
        type__in=["payment.captured", "payment.failed", "payment.refunded"]
    ).exists()
    assert not Invoice.objects.exists()


def test_the_same_stock_reserved_handled_twice_at_once_charges_once(shop):
    # Two deliveries of one stock.reserved past the inbox (e.g. a replayed dead letter
    # racing a late retry): the payment row lock makes the second find the charge done.
    ProductFactory(shop=shop, sku="COFFEE-1KG", price=Decimal("24.90"), on_hand=5)
    order = order_for(shop, lines={"COFFEE-1KG": 2})
    order_services.order_reserve_stock(order_id=order.id)
    reserved = OutboxEvent.objects.get(type="stock.reserved", aggregate_id=str(order.id))

    results = in_threads(
        2, lambda _: handle_again(reserved, "payments.charge_on_stock_reserved") or "handled"
    )

    assert results == ["handled", "handled"]
    payment = Payment.objects.get(order_id=order.id)
    assert (payment.status, payment.amount) == ("captured", Decimal("49.80"))
    assert list(
        PaymentAttempt.objects.filter(payment=payment).values_list("operation", "outcome")
    ) == [("authorize", "succeeded"), ("capture", "succeeded")]
    assert SimulatedGateway.effects("capture", gateway_key(order.id, "capture")) == 1
    assert SimulatedGateway.effects("authorize", gateway_key(order.id, "authorize")) == 1
    assert OutboxEvent.objects.filter(type="payment.captured").count() == 1


def test_charging_again_after_the_capture_changes_nothing(shop):
    ProductFactory(shop=shop, sku="COFFEE-1KG", price=Decimal("24.90"), on_hand=5)
    order = order_for(shop, lines={"COFFEE-1KG": 1})
    order_services.order_reserve_stock(order_id=order.id)
    first = payment_charge(order_id=order.id, attempt=1)

    again = payment_charge(order_id=order.id, attempt=2)

    assert (again.pk, again.status, again.gateway_reference) == (
        first.pk,
        "captured",
        first.gateway_reference,
    )
    assert PaymentAttempt.objects.filter(payment=first).count() == 2
    assert SimulatedGateway.calls("capture", gateway_key(order.id, "capture")) == 1
    assert OutboxEvent.objects.filter(type="payment.captured").count() == 1


def saga_step(order_id: UUID, event_type: str, subscriber: str) -> None:
    """Handle the order's (only) event of ``event_type`` with one subscriber, as a worker would."""
    row = OutboxEvent.objects.get(type=event_type, data__order_id=str(order_id))
    handle_again(row, subscriber)


def confirmed_then_cancelled(shop) -> Order:
    """An order taken through stock, charge and confirmation, then cancelled by staff; the
    invoice and credit note deliveries are relayed but not run."""
    ProductFactory(shop=shop, sku="COFFEE-1KG", price=Decimal("24.90"), on_hand=5)
    order = order_for(shop, lines={"COFFEE-1KG": 1})
    saga_step(order.id, "order.placed", "orders.reserve_stock_on_order_placed")
    saga_step(order.id, "stock.reserved", "payments.charge_on_stock_reserved")
    saga_step(order.id, "payment.captured", "orders.confirm_order_on_payment_captured")
    order_services.order_cancel(
        order_id=order.id, shop=None, actor=order_services.Actor("staff", "ana"), reason="late"
    )
    while relay_batch():
        pass
    return order


def delivery_of(event_type: str, subscriber: str) -> Delivery:
    delivery = Delivery.objects.select_related("event").get(
        event__type=event_type, subscriber=subscriber
    )
    delivery.attempts = 1  # as claimed
    return delivery


INVOICE = ("order.confirmed", "payments.issue_invoice_on_order_confirmed")
CREDIT_NOTE = ("order.cancelled", "payments.issue_credit_note_on_order_cancelled")
REFUND = ("order.cancelled", "payments.refund_on_order_cancelled")


@pytest.mark.parametrize("first", ["invoice", "cancellation", "both_at_once"])
def test_an_order_cancelled_once_confirmed_gets_its_invoice_and_one_credit_note(shop, first):
    # order.confirmed and order.cancelled reach their subscribers in either order (two
    # worker processes), even at the same moment: whatever the order, the invoice is
    # issued once and cancelled by exactly one credit note, with gapless numbers. With the
    # capture still there, the cancellation's credit note is its refund's to issue (the
    # credit-note subscriber leaves it), so the refund races the invoice.
    order = confirmed_then_cancelled(shop)
    invoice, credit_note = delivery_of(*INVOICE), delivery_of(*CREDIT_NOTE)
    refund = delivery_of(*REFUND)
    assert run_delivery(credit_note) == "done"
    assert not Invoice.objects.filter(order_id=order.id).exists()

    if first == "both_at_once":
        outcomes = in_threads(2, lambda i: run_delivery((invoice, refund)[i]))
        # both may find no invoice and issue one: the loser of the unique (order, kind)
        # rolls back whole, number included, and is retried as its delivery would be
        assert sorted(outcomes) in (["done", "done"], ["done", "retry"])
        for delivery, outcome in zip((invoice, refund), outcomes, strict=True):
            if outcome == "retry":
                delivery.attempts += 1
                assert run_delivery(delivery) == "done"
    else:
        pair = (invoice, refund) if first == "invoice" else (refund, invoice)
        assert [run_delivery(delivery) for delivery in pair] == ["done", "done"]

    year = timezone.now().year
    issued = {i.kind: i for i in Invoice.objects.filter(order_id=order.id)}
    assert sorted((i.kind, i.number, i.total) for i in issued.values()) == [
        ("credit_note", f"{year}-000002", Decimal("-24.90")),
        ("invoice", f"{year}-000001", Decimal("24.90")),
    ]
    assert issued["credit_note"].credits_id == issued["invoice"].pk
    assert OutboxEvent.objects.filter(type="invoice.issued").count() == 2
