"""The saga's stock and payment invariants under any interleaving of what can happen.

A Hypothesis state machine plays shops, staff and the delivery workers against the real
services and the real relay, in this process: orders are placed over three products with
a card that pays or is declined, cancelled, told their payment failed, products are
restocked (or cut), and deliveries run one at a time, all at once, or again past the
inbox. After every step the stock must add up exactly and no money may move twice; once
the saga settles, every order must have reached an end that matches its money.
"""

from collections import Counter
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import Q, Sum
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from orderflow.events.relay import drain, process_batch
from orderflow.models import Delivery, DeliveryStatus
from orders import services as order_services
from orders.exceptions import InvalidTransition, ProductInputError
from orders.models import Order, OrderLine, Product
from orders.services.lifecycle import HOLDING_STOCK
from payments.gateway import SimulatedGateway
from payments.models import Invoice, Payment, Refund
from payments.services.charging import gateway_key
from tests.fixtures import handle_again

PRODUCTS = 3
INITIAL_STOCK = 6
CARDS = ("tok_ok", "tok_declined")
CANCELLABLE = {"placed", "reserved", "paid", "confirmed"}
SAGA_SUBSCRIBERS = Q(subscriber__startswith="orders.") | Q(subscriber__startswith="payments.")
STAFF = order_services.Actor(kind="staff", name="property")
#: every app of the project: its tables are emptied before each example
PROJECT_APPS = {"orderflow", "orders", "payments", "tracking", "notifications", "probe"}


def empty_project_tables() -> None:
    tables = sorted(
        {
            model._meta.db_table
            for config in apps.get_app_configs()
            if config.label in PROJECT_APPS
            for model in config.get_models()
            if model._meta.managed and not model._meta.proxy
        }
    )
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def gateway_effects(order_id, operation: str) -> int:
    return SimulatedGateway.effects(operation, gateway_key(order_id, operation))


class SagaMachine(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self):
        super().__init__()
        empty_project_tables()
        self.shop = order_services.shop_create(name="Property shop")
        self.products = [
            order_services.product_create(
                shop=self.shop,
                sku=f"P{n}",
                name=f"Product {n}",
                price=Decimal("5.00"),
                stock=INITIAL_STOCK,
            )
            for n in range(PRODUCTS)
        ]
        self.on_hand = {product.pk: INITIAL_STOCK for product in self.products}
        self.cards: dict = {}  # order id -> card token

    # --- what shops and staff do ---------------------------------------------------------
    @rule(
        target=orders,
        lines=st.dictionaries(st.integers(0, PRODUCTS - 1), st.integers(1, 4), min_size=1),
        card=st.sampled_from(CARDS),
    )
    def place(self, lines, card):
        order = order_services.order_place(
            shop=self.shop,
            customer=order_services.CustomerInput(name="Ana", email="ana@example.com"),
            shipping_address={"line1": "Rua A 1", "city": "SP", "country": "BR"},
            lines=[
                order_services.LineInput(sku=f"P{index}", quantity=quantity)
                for index, quantity in lines.items()
            ],
            payment_token=card,
        )
        self.cards[order.id] = card
        return order.id

    @rule(order_id=orders)
    def cancel(self, order_id):
        before = Order.objects.get(pk=order_id).status
        try:
            order_services.order_cancel(order_id=order_id, shop=None, actor=STAFF, reason="staff")
        except InvalidTransition:
            assert before not in CANCELLABLE
        else:
            assert before in CANCELLABLE
            assert Order.objects.get(pk=order_id).status == "cancelled"

    @rule(order_id=orders)
    def fail_payment(self, order_id):
        # payment.failed for this order: only a reserved order is waiting for its payment;
        # for any other it is a stray or late event and must change nothing
        before = Order.objects.values("status", "version").get(pk=order_id)
        order_services.order_fail_payment(order_id=order_id, reason="declined")
        after = Order.objects.values("status", "version").get(pk=order_id)
        if before["status"] == "reserved":
            assert after["status"] == "cancelled"
        else:
            assert after == before

    @rule(index=st.integers(0, PRODUCTS - 1), stock=st.integers(0, 12))
    def restock(self, index, stock):
        product = Product.objects.get(pk=self.products[index].pk)
        if stock < product.reserved:
            with pytest.raises(ProductInputError):
                order_services.product_update(product=product, stock=stock)
        else:
            order_services.product_update(product=product, stock=stock)
            self.on_hand[product.pk] = stock

    # --- what the delivery workers do ----------------------------------------------------
    @rule(steps=st.integers(1, 6))
    def deliver_some(self, steps):
        """Relay and run deliveries one at a time, oldest first, leaving the rest waiting."""
        with override_settings(EVENTS_BATCH_SIZE=1):
            for _ in range(steps):
                process_batch()

    @rule()
    def settle(self):
        drain()
        self.check_settled()

    @precondition(lambda self: Delivery.objects.filter(SAGA_SUBSCRIBERS).exists())
    @rule(data=st.data())
    def redeliver(self, data):
        """Run a saga handler again past the inbox: for an event it handled already, or
        ahead of its pending delivery, which will then run it a second time."""
        deliveries = list(
            Delivery.objects.filter(SAGA_SUBSCRIBERS).select_related("event").order_by("pk")
        )
        delivery = data.draw(st.sampled_from(deliveries), label="delivery")
        handle_again(delivery.event, delivery.subscriber)

    # --- what must hold after every step -------------------------------------------------
    @invariant()
    def stock_adds_up(self):
        held = dict(
            OrderLine.objects.filter(order__status__in=HOLDING_STOCK)
            .values("product")
            .annotate(units=Sum("quantity"))
            .values_list("product", "units")
        )
        for pk, on_hand, reserved in Product.objects.values_list("pk", "on_hand", "reserved"):
            assert 0 <= reserved <= on_hand, (pk, on_hand, reserved)
            assert on_hand == self.on_hand[pk]  # nothing ships here: only restocks move it
            assert reserved == held.get(pk, 0), (pk, reserved, held)

    @invariant()
    def money_moves_at_most_once(self):
        statuses = dict(Order.objects.values_list("pk", "status"))
        refunds = Counter(Refund.objects.values_list("payment__order_id", flat=True))
        for order_id, status in Payment.objects.values_list("order_id", "status"):
            captures = gateway_effects(order_id, "capture")
            assert captures <= 1
            assert gateway_effects(order_id, "refund") <= 1
            assert refunds[order_id] <= 1
            if self.cards[order_id] == "tok_declined":
                assert captures == 0
            if status == "refunded":
                assert statuses[order_id] == "cancelled"
                assert (captures, refunds[order_id]) == (1, 1)
        for order_id, status in statuses.items():
            if status == "confirmed":  # only a capture confirms
                assert Payment.objects.get(order_id=order_id).status == "captured"

    def check_settled(self):
        """Once nothing is due, every order has reached an end that matches its money."""
        saga = Delivery.objects.filter(SAGA_SUBSCRIBERS)
        assert set(saga.values_list("status", flat=True)) <= {DeliveryStatus.DONE}
        payments = dict(Payment.objects.values_list("order_id", "status"))
        invoices = Counter(Invoice.objects.values_list("order_id", "kind"))
        for order_id, status in Order.objects.values_list("pk", "status"):
            kinds = {kind: invoices[(order_id, kind)] for kind in ("invoice", "credit_note")}
            payment = payments.get(order_id)
            if status == "confirmed":
                assert payment == "captured"
                assert self.cards[order_id] == "tok_ok"
                assert kinds == {"invoice": 1, "credit_note": 0}
            elif status == "cancelled":
                assert payment in ("voided", "failed", "refunded")
                if payment == "refunded":
                    assert gateway_effects(order_id, "refund") == 1
                else:
                    assert gateway_effects(order_id, "capture") == 0
                assert kinds in ({"invoice": 0, "credit_note": 0}, {"invoice": 1, "credit_note": 1})
            else:
                assert status == "rejected", status
                assert payment is None
                assert kinds == {"invoice": 0, "credit_note": 0}

    def teardown(self):
        drain()
        self.check_settled()


@pytest.fixture
def fast_commits(transactional_db):
    """Commit without waiting for the WAL flush: durability is not what this test checks,
    and a few thousand small transactions would otherwise wait on the disk."""
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET synchronous_commit")


@pytest.mark.django_db(transaction=True)
def test_stock_and_money_invariants_hold_under_any_interleaving(fast_commits):
    run_state_machine_as_test(
        SagaMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
