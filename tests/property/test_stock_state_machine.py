"""The saga's stock and payment invariants under any interleaving of what can happen.

A Hypothesis state machine plays shops, staff and the delivery workers against the real
services and the real relay, in this process: orders are placed over three products with
a card that pays or is declined, cancelled, told their payment failed, products are
restocked (or cut), and deliveries run one at a time, all at once, or again past the
inbox. After every step the stock must add up exactly and no money may move twice; once
the saga settles, every order must have reached an end that matches its money.

Shops also refund part of a payment (an amount, or units of a line), before or after a
cancellation: what was refunded always equals its refunds, never exceeds what was captured,
and a line's units are never refunded twice. Confirmed orders ship; units refunded with
``restock`` go back on hand, only once they have shipped and never more than shipped. Each
refund is a credit note: credit notes never credit a rate past their invoice, each refund's
credits exactly its amount, and once settled an invoice's credit notes add up to what was
refunded (the whole invoice when the order was cancelled).

Shipped orders have returns: units asked back never pass what their parcels held (rejected
returns aside), each step is taken only from the status that allows it (else nothing
changes), a received return restocks once if staff say so, and a refunded return's money is
one refund of the payment, within what was captured.

Staff also ship part of a confirmed order and cancel the rest: the units still in the
warehouse are released, their share of the payment refunded as a refund of lines, and the
order counts as shipped; a partly shipped order holds exactly its units not yet in a parcel.

Orders are priced as a shop prices them: products in three tax classes (a reduced rate for
the destination, the shop's standard rate, zero), a shipping method free above a subtotal,
two discount codes (one limited to three uses, one once per customer), and prices that
include tax or not (the shop may switch). Every order's amounts must add up (total = lines
+ shipping - discounts, + tax when prices are net; tax per line adds up), a code's uses
must match its redemptions and never pass its limit, and every invoice's tax per rate
must add up to its tax and its total to the order's.
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
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from orderflow.events.lane import process_batch
from orderflow.events.pump import drain
from orderflow.models import Delivery, DeliveryStatus
from orders import services as order_services
from orders.exceptions import (
    DiscountUnavailable,
    InvalidTransition,
    OrderError,
    OrderInputError,
    ProductInputError,
    RemainderNotCancellable,
    RemainderRefundRefused,
    ReturnInputError,
    ReturnNotAllowed,
)
from orders.models import (
    Discount,
    DiscountRedemption,
    Order,
    OrderLine,
    Product,
    Return,
    ReturnLine,
    ShipmentLine,
    ShippingMethod,
    Shop,
    ShopCarrier,
    StockRestock,
    TaxRate,
)
from orders.services import remainder, returns
from orders.services.dispatch import ShipmentLineInput, shipment_create
from orders.services.lifecycle import HOLDING_STOCK
from payments.exceptions import RefundInputError, RefundNotPossible
from payments.gateway import SimulatedGateway
from payments.models import Invoice, Payment, Refund
from payments.services import RefundLine, payment_refund
from payments.services.charging import gateway_key
from tests.fixtures import handle_again

PRODUCTS = 3
INITIAL_STOCK = 6
#: each product's price and tax class: a reduced rate in BR, the shop's standard, zero
CATALOG = [("5.00", "reduced"), ("3.35", "standard"), ("12.99", "zero")]
CODES = ("TEN", "FIVE")
EMAILS = ("ana@example.com", "bia@example.com")
CARDS = ("tok_ok", "tok_declined")
CANCELLABLE = {"placed", "reserved", "paid", "confirmed"}
SHIPPED = {"shipped", "out_for_delivery", "delivered"}
#: statuses of an order some of whose units have left in a parcel
SHIPPED_SOME = {"partially_shipped", *SHIPPED}
#: a return's steps (``orders.services.returns``), and those each status allows
RETURN_STEPS = (
    "approve",
    "reject",
    "receive",
    "receive_and_restock",
    "refund_lines",
    "refund_amount",
    "close",
)
RETURN_STEPS_BY_STATUS = {
    "requested": ("approve", "reject"),
    "approved": ("receive", "receive_and_restock"),
    "received": ("refund_lines", "refund_amount", "close"),
}
OPEN_RETURNS = tuple(RETURN_STEPS_BY_STATUS)
#: the ways a return usually goes (random steps, allowed or not, are drawn too)
RETURN_PATHS = (
    ("approve", "receive", "refund_lines"),
    ("approve", "receive_and_restock", "refund_lines"),
    ("approve", "receive_and_restock", "refund_amount"),
    ("approve", "receive", "close"),
    ("reject",),
)
#: orders a return is asked for (a confirmed one ships first)
RETURNABLE = {"confirmed", *SHIPPED}
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
        Shop.objects.filter(pk=self.shop.pk).update(tax_rate=Decimal("0.2"))
        self.shop.refresh_from_db()
        ShopCarrier.objects.create(shop=self.shop, carrier="DHL")
        TaxRate.objects.create(
            shop=self.shop, tax_class="reduced", country="BR", rate=Decimal("0.07")
        )
        ShippingMethod.objects.create(
            shop=self.shop,
            code="std",
            name="Standard",
            price=Decimal("7.00"),
            free_above=Decimal("30.00"),
        )
        Discount.objects.create(
            shop=self.shop, code="TEN", kind="percentage", value=Decimal("10"), max_uses=3
        )
        Discount.objects.create(
            shop=self.shop,
            code="FIVE",
            kind="fixed",
            value=Decimal("5.00"),
            once_per_customer=True,
        )
        self.products = [
            order_services.product_create(
                shop=self.shop,
                sku=f"P{n}",
                name=f"Product {n}",
                price=Decimal(price),
                stock=INITIAL_STOCK,
                tax_class=tax_class,
            )
            for n, (price, tax_class) in enumerate(CATALOG)
        ]
        self.on_hand = {product.pk: INITIAL_STOCK for product in self.products}
        self.cards: dict = {}  # order id -> card token

    # --- what shops and staff do ---------------------------------------------------------
    @rule(
        target=orders,
        lines=st.dictionaries(st.integers(0, PRODUCTS - 1), st.integers(1, 4), min_size=1),
        card=st.sampled_from(CARDS),
        codes=st.lists(st.sampled_from(CODES), unique=True, max_size=2),
        email=st.sampled_from(EMAILS),
    )
    def place(self, lines, card, codes, email):
        orders_before = Order.objects.count()
        uses_before = dict(Discount.objects.values_list("code", "uses"))
        try:
            order = order_services.order_place(
                shop=self.shop,
                customer=order_services.CustomerInput(name="Ana", email=email),
                shipping_address={"line1": "Rua A 1", "city": "SP", "country": "BR"},
                lines=[
                    order_services.LineInput(sku=f"P{index}", quantity=quantity)
                    for index, quantity in lines.items()
                ],
                payment_token=card,
                shipping_method="std",
                discount_codes=codes,
            )
        except (OrderInputError, DiscountUnavailable) as error:
            refused = error
        else:
            self.cards[order.id] = card
            return order.id
        # only a code may refuse these orders: used up, or used by this customer
        assert codes, refused
        reasons = {e.code for e in refused.errors}
        assert reasons <= {"discount_exhausted", "discount_already_used"}, refused.errors
        assert Order.objects.count() == orders_before
        assert dict(Discount.objects.values_list("code", "uses")) == uses_before
        return multiple()

    @rule(include=st.booleans())
    def switch_price_basis(self, include):
        """The shop switches between prices with tax and net prices: placed orders keep theirs."""
        Shop.objects.filter(pk=self.shop.pk).update(prices_include_tax=include)
        self.shop.refresh_from_db()

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

    @rule(order_id=orders, cents=st.integers(1, 9000))
    def refund_amount(self, order_id, cents):
        """The shop gives back an amount: refused, changing nothing, unless captured money
        is left to cover it."""
        amount = Decimal(cents) / 100
        before = Payment.objects.filter(order_id=order_id).values("status", "refunded_amount")
        before = before.first()
        refunds_before = Refund.objects.count()
        try:
            refund = payment_refund(order_id=order_id, shop_id=self.shop.pk, amount=amount)
        except RefundNotPossible:
            assert before is None or before["status"] not in ("captured", "partially_refunded")
        except RefundInputError:
            payment = Payment.objects.get(order_id=order_id)
            assert amount > payment.amount - payment.refunded_amount
        else:
            assert refund.amount == amount
            after = Payment.objects.get(order_id=order_id)
            assert after.refunded_amount == before["refunded_amount"] + amount
            return
        after = Payment.objects.filter(order_id=order_id).values("status", "refunded_amount")
        assert after.first() == before
        assert Refund.objects.count() == refunds_before

    @rule(order_id=orders)
    def ship(self, order_id):
        """The saga catches up, then staff ship the order if it is confirmed (or what remains
        of a partly shipped one): its held units leave the warehouse."""
        drain()
        before = Order.objects.get(pk=order_id).status
        waiting = self.waiting_units(order_id)
        try:
            order_services.order_ship(
                order_id=order_id,
                shop=None,
                actor=STAFF,
                carrier="DHL",
                tracking_number=f"T{str(order_id)[:8]}",
            )
        except InvalidTransition:
            assert before not in ("confirmed", "partially_shipped")
        else:
            assert before in ("confirmed", "partially_shipped")
            for product_id, units in waiting.items():
                self.on_hand[product_id] -= units

    def waiting_units(self, order_id) -> dict:
        """Product id -> the order's units not yet in a parcel."""
        waiting = dict(
            OrderLine.objects.filter(order_id=order_id).values_list("product_id", "quantity")
        )
        for product_id, units in ShipmentLine.objects.filter(
            shipment__order_id=order_id
        ).values_list("order_line__product_id", "quantity"):
            waiting[product_id] -= units
        return {pk: units for pk, units in waiting.items() if units}

    @rule(data=st.data(), taken=st.integers(1, 3), then_cancel=st.booleans())
    def ship_part_and_cancel_the_rest(self, data, taken, then_cancel):
        """The saga catches up; staff ship up to ``taken`` units of a confirmed order's
        first line in a parcel, then (maybe) cancel what has not shipped: the rest's stock
        is released and its share refunded (a refund of lines), or, refused, nothing
        changes."""
        drain()
        if not Order.objects.filter(status="confirmed").exists():
            # a paid order of two lines, if the stock allows (else it is rejected)
            self.place({0: 1, 1: 1}, "tok_ok", [], EMAILS[0])
            drain()
        confirmed = sorted(
            Order.objects.filter(status="confirmed").values_list("pk", flat=True), key=str
        )
        if not confirmed:
            return
        order_id = data.draw(st.sampled_from(confirmed), label="confirmed order")
        line = OrderLine.objects.filter(order_id=order_id).order_by("id").first()
        units = min(taken, line.quantity)
        shipment_create(
            order_id=order_id,
            shop=None,
            actor=STAFF,
            carrier="DHL",
            tracking_number=f"S{str(order_id)[:8]}",
            lines=[ShipmentLineInput(line.sku, units)],
        )
        self.on_hand[line.product_id] -= units
        if then_cancel:
            self.cancel_the_rest(order_id)

    @rule(order_id=orders)
    def cancel_the_rest(self, order_id):
        """Staff cancel what has not shipped: only of a partly shipped order (else refused,
        nothing changed); refused too when the payments context refuses the refund."""
        status = Order.objects.get(pk=order_id).status
        waiting = self.waiting_units(order_id)
        payments = Payment.objects.filter(order_id=order_id).values("status", "refunded_amount")
        payment = payments.first()  # None before the order's payment step ran
        refunds_before = Refund.objects.count()
        try:
            done = remainder.order_cancel_remainder(order_id=order_id, shop=None, actor=STAFF)
        except (RemainderNotCancellable, RemainderRefundRefused):
            assert Order.objects.get(pk=order_id).status == status
            assert self.waiting_units(order_id) == waiting
            assert Refund.objects.count() == refunds_before
            assert payments.first() == payment
            if status == "partially_shipped":
                assert payment["status"] in ("captured", "partially_refunded")
            return
        assert status == "partially_shipped"
        assert Order.objects.get(pk=order_id).status in SHIPPED
        assert {
            OrderLine.objects.get(order_id=order_id, sku=line.sku).product_id: line.quantity
            for line in done.lines
        } == waiting
        after = Payment.objects.get(order_id=order_id)
        assert after.refunded_amount == payment["refunded_amount"] + done.refunded_amount
        if payment["status"] in ("captured", "partially_refunded"):
            refund = Refund.objects.get(pk=done.refund_id)
            assert refund.lines == [
                {"sku": line.sku, "quantity": line.quantity} for line in done.lines
            ]
        else:
            assert (done.refunded_amount, Refund.objects.count()) == (0, refunds_before)

    @rule(
        order_id=orders,
        index=st.integers(0, PRODUCTS - 1),
        quantity=st.integers(1, 4),
        restock=st.booleans(),
        on_order=st.booleans(),
    )
    def refund_units(self, order_id, index, quantity, restock, on_order):
        """The shop gives back units of a line: never more than were ordered, counting
        earlier refunds by lines; with ``restock``, only units that shipped, and they go
        back on hand. ``on_order``: a SKU of the order's, else any of the catalog."""
        skus = sorted(OrderLine.objects.filter(order_id=order_id).values_list("sku", flat=True))
        sku = skus[index % len(skus)] if on_order else f"P{index}"
        refunds_before = Refund.objects.count()
        status = Order.objects.get(pk=order_id).status
        try:
            refund = payment_refund(
                order_id=order_id,
                shop_id=self.shop.pk,
                lines=[RefundLine(sku=sku, quantity=quantity)],
                restock=restock,
            )
        except (RefundNotPossible, RefundInputError) as error:
            refused = error
        else:
            refused = None
        if refused is not None:
            assert Refund.objects.count() == refunds_before
            if restock and status not in SHIPPED_SOME:
                assert isinstance(refused, RefundInputError)
                assert [e.code for e in refused.errors] == ["not_shipped"]
        else:
            assert not restock or status in SHIPPED_SOME
            if restock and refund.status == "succeeded":
                product = OrderLine.objects.get(order_id=order_id, sku=sku).product_id
                self.on_hand[product] += quantity
        ordered = OrderLine.objects.filter(order_id=order_id, sku=sku).values_list(
            "quantity", flat=True
        )
        given_back = sum(
            line["quantity"]
            for lines in Refund.objects.filter(payment__order_id=order_id).values_list(
                "lines", flat=True
            )
            for line in lines
            if line["sku"] == sku
        )
        assert given_back <= sum(ordered)

    @precondition(lambda self: Order.objects.filter(status="confirmed").exists())
    @rule(data=st.data())
    def ship_a_confirmed_order(self, data):
        confirmed = sorted(
            Order.objects.filter(status="confirmed").values_list("pk", flat=True), key=str
        )
        self.ship(data.draw(st.sampled_from(confirmed), label="confirmed order"))

    @precondition(lambda self: Order.objects.filter(status__in=SHIPPED).exists())
    @rule(data=st.data(), index=st.integers(0, PRODUCTS - 1), quantity=st.integers(1, 2))
    def refund_shipped_units_and_restock(self, data, index, quantity):
        """The shop gives back units of a shipped order that came back, restocking them."""
        shipped = sorted(
            Order.objects.filter(status__in=SHIPPED).values_list("pk", flat=True), key=str
        )
        order_id = data.draw(st.sampled_from(shipped), label="shipped order")
        self.refund_units(order_id, index, quantity, restock=True, on_order=True)

    # --- returns: asked for on shipped orders, then moved on by staff -------------------
    @precondition(lambda self: Order.objects.filter(status__in=RETURNABLE).exists())
    @rule(
        data=st.data(),
        index=st.integers(0, PRODUCTS - 1),
        quantity=st.integers(1, 3),
        steps=st.one_of(
            st.sampled_from(RETURN_PATHS), st.lists(st.sampled_from(RETURN_STEPS), max_size=4)
        ),
        cents=st.integers(1, 3000),
    )
    def request_return(self, data, index, quantity, steps, cents):
        """The shop asks to return units of a shipped order (a confirmed one is shipped
        first): never more than its parcels hold, counting its other returns (rejected ones
        excepted). Staff then take ``steps`` on it, in that order, allowed or not."""
        returnable = sorted(
            Order.objects.filter(status__in=RETURNABLE).values_list("pk", flat=True), key=str
        )
        order_id = data.draw(st.sampled_from(returnable), label="confirmed or shipped order")
        if Order.objects.get(pk=order_id).status == "confirmed":
            self.ship(order_id)
        skus = sorted(OrderLine.objects.filter(order_id=order_id).values_list("sku", flat=True))
        before = Return.objects.count()
        try:
            order_return = returns.return_request(
                order_id=order_id,
                shop_id=self.shop.pk,
                lines=[returns.ReturnLineInput(skus[index % len(skus)], quantity)],
                reason="property",
                actor=STAFF,
            )
        except ReturnInputError as error:
            refused = error
        else:
            for step in steps:
                self.take_return_step(order_return.pk, step, cents)
            return
        assert [e.code for e in refused.errors] == ["exceeds_returnable"]
        assert Return.objects.count() == before

    @precondition(lambda self: Return.objects.filter(status__in=OPEN_RETURNS).exists())
    @rule(data=st.data(), step=st.sampled_from(RETURN_STEPS), cents=st.integers(1, 3000))
    def move_return(self, data, step, cents):
        """Staff take a step of an open return, later, among the other work."""
        open_returns = sorted(
            Return.objects.filter(status__in=OPEN_RETURNS).values_list("pk", flat=True), key=str
        )
        self.take_return_step(data.draw(st.sampled_from(open_returns), label="return"), step, cents)

    def take_return_step(self, return_id, step, cents):
        """A step is refused, changing nothing, unless the return's status allows it (and
        the payment the refund, the stock the restock)."""
        fields = ("status", "restock", "refunded_amount")
        before = Return.objects.values(*fields).get(pk=return_id)
        refunds_before, restocks_before = Refund.objects.count(), StockRestock.objects.count()
        run = {
            "approve": lambda: returns.return_approve(return_id=return_id, actor=STAFF),
            "reject": lambda: returns.return_reject(return_id=return_id, actor=STAFF, reason="no"),
            "receive": lambda: returns.return_receive(
                return_id=return_id, actor=STAFF, restock=False
            ),
            "receive_and_restock": lambda: returns.return_receive(
                return_id=return_id, actor=STAFF, restock=True
            ),
            "refund_lines": lambda: returns.return_refund(return_id=return_id, actor=STAFF),
            "refund_amount": lambda: returns.return_refund(
                return_id=return_id, actor=STAFF, amount=Decimal(cents) / 100
            ),
            "close": lambda: returns.return_close(return_id=return_id, actor=STAFF),
        }
        try:
            moved = run[step]()
        except OrderError as error:
            refused = error
        else:
            refused = None
        if refused is not None:
            assert Return.objects.values(*fields).get(pk=return_id) == before
            assert (Refund.objects.count(), StockRestock.objects.count()) == (
                refunds_before,
                restocks_before,
            )
            if isinstance(refused, ReturnNotAllowed):
                assert step not in RETURN_STEPS_BY_STATUS.get(before["status"], ()), step
            return
        assert step in RETURN_STEPS_BY_STATUS[before["status"]], (step, before)
        if step == "receive_and_restock":
            for line in moved.lines.all():
                product = OrderLine.objects.get(order_id=moved.order_id, sku=line.sku).product_id
                self.on_hand[product] += line.quantity

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
    def order_amounts_add_up(self):
        lines = {}
        for line in OrderLine.objects.all():
            lines.setdefault(line.order_id, []).append(line)
        for order in Order.objects.all():
            mine = lines[order.pk]
            for line in mine:
                assert line.line_total == line.unit_price * line.quantity - line.discount_amount
                assert 0 <= line.discount_amount <= line.unit_price * line.quantity
            assert order.subtotal == sum(line.unit_price * line.quantity for line in mine)
            assert order.discount_total == sum(line.discount_amount for line in mine)
            assert order.tax_total == sum(line.tax_amount for line in mine) + order.shipping_tax
            net_tax = 0 if order.prices_include_tax else order.tax_total
            assert order.total == (
                order.subtotal - order.discount_total + order.shipping_total + net_tax
            )
            assert order.discount_total == sum(
                Decimal(applied["amount"]) for applied in order.discounts
            )

    @invariant()
    def discount_uses_match_redemptions(self):
        redeemed = Counter(DiscountRedemption.objects.values_list("discount__code", flat=True))
        for code, uses, limit in Discount.objects.values_list("code", "uses", "max_uses"):
            assert uses == redeemed[code], (code, uses, redeemed)
            assert limit is None or uses <= limit
        per_customer = Counter(
            DiscountRedemption.objects.filter(discount__code="FIVE").values_list(
                "customer_email", flat=True
            )
        )
        assert set(per_customer.values()) <= {1}

    @invariant()
    def stock_adds_up(self):
        held = Counter(
            dict(
                OrderLine.objects.filter(order__status__in=HOLDING_STOCK)
                .values("product")
                .annotate(units=Sum("quantity"))
                .values_list("product", "units")
            )
        )
        # a partly shipped order holds its units not yet in a parcel
        for order_id in Order.objects.filter(status="partially_shipped").values_list(
            "pk", flat=True
        ):
            held.update(self.waiting_units(order_id))
        for pk, on_hand, reserved in Product.objects.values_list("pk", "on_hand", "reserved"):
            assert 0 <= reserved <= on_hand, (pk, on_hand, reserved)
            # set by the catalog, less what shipped, plus what refunds put back
            assert on_hand == self.on_hand[pk]
            assert reserved == held.get(pk, 0), (pk, reserved, held)
        # units back on hand: only of shipped orders, never more of a line than shipped
        restocked: Counter = Counter()
        for order_id, lines in StockRestock.objects.values_list("order_id", "lines"):
            for line in lines:
                restocked[(order_id, line["sku"])] += line["quantity"]
        shipped: Counter = Counter()
        for order_id, sku, quantity in ShipmentLine.objects.values_list(
            "shipment__order_id", "sku", "quantity"
        ):
            shipped[(order_id, sku)] += quantity
        for key, units in restocked.items():
            assert units <= shipped.get(key, 0), (key, units)
        restocks = Counter(
            Refund.objects.filter(restock=True, status="succeeded").values_list(
                "payment__order_id", flat=True
            )
        )
        assert StockRestock.objects.filter(key__startswith="refund:").count() == sum(
            restocks.values()
        )

    @invariant()
    def returns_never_exceed_what_shipped(self):
        claimed: Counter = Counter()
        for order_id, sku, quantity in ReturnLine.objects.exclude(
            order_return__status="rejected"
        ).values_list("order_return__order_id", "sku", "quantity"):
            claimed[(order_id, sku)] += quantity
        shipped: Counter = Counter()
        for order_id, sku, quantity in ShipmentLine.objects.values_list(
            "shipment__order_id", "sku", "quantity"
        ):
            shipped[(order_id, sku)] += quantity
        for key, units in claimed.items():
            assert units <= shipped[key], (key, units, shipped[key])
        # a refunded return's money is one succeeded refund of the order's payment
        for order_id, refund_id, amount in Return.objects.filter(status="refunded").values_list(
            "order_id", "refund_id", "refunded_amount"
        ):
            refund = Refund.objects.get(pk=refund_id)
            assert (refund.payment.order_id, refund.amount, refund.status) == (
                order_id,
                amount,
                "succeeded",
            )
        restocking = Return.objects.filter(restock=True).count()
        assert StockRestock.objects.filter(key__startswith="return:").count() == restocking

    @invariant()
    def money_moves_at_most_once(self):
        statuses = dict(Order.objects.values_list("pk", "status"))
        # the cancellation's refunds (a shop's refunds have numbered keys: -refund-<n>)
        refunds = Counter(
            Refund.objects.filter(idempotency_key__endswith="-refund").values_list(
                "payment__order_id", flat=True
            )
        )
        for order_id, status in Payment.objects.values_list("order_id", "status"):
            captures = gateway_effects(order_id, "capture")
            assert captures <= 1
            assert gateway_effects(order_id, "refund") <= 1  # the cancellation's refund
            assert refunds[order_id] <= 1
            if self.cards[order_id] == "tok_declined":
                assert captures == 0
            if status in ("refunded", "partially_refunded"):
                assert captures == 1
        for order_id, status in statuses.items():
            if status == "confirmed":  # only a capture confirms
                assert Payment.objects.get(order_id=order_id).status in (
                    "captured",
                    "partially_refunded",
                    "refunded",
                )

    @invariant()
    def refunded_never_exceeds_captured(self):
        given = dict(
            Refund.objects.filter(status="succeeded")
            .values("payment")
            .annotate(total=Sum("amount"))
            .values_list("payment", "total")
        )
        for pk, order_id, amount, refunded, status in Payment.objects.values_list(
            "pk", "order_id", "amount", "refunded_amount", "status"
        ):
            assert refunded == given.get(pk, 0), (order_id, refunded, given.get(pk))
            assert 0 <= refunded <= amount
            assert (status == "refunded") == (refunded == amount and amount > 0), status
            for key in Refund.objects.filter(payment_id=pk).values_list(
                "idempotency_key", flat=True
            ):
                assert SimulatedGateway.effects("refund", key) == 1, key

    @invariant()
    def credit_notes_never_credit_more_than_invoiced(self):
        invoices = {i.pk: i for i in Invoice.objects.filter(kind="invoice")}
        credited: dict = {}
        for note in Invoice.objects.filter(kind="credit_note").select_related("refund"):
            assert sum(Decimal(b["tax"]) for b in note.taxes) == note.tax
            assert sum(Decimal(b["net"]) + Decimal(b["tax"]) for b in note.taxes) == note.total
            if note.refund is not None:
                assert note.total == -note.refund.amount
            for band in note.taxes:
                net, tax = credited.get((note.credits_id, band["rate"]), (0, 0))
                credited[(note.credits_id, band["rate"])] = (
                    net - Decimal(band["net"]),
                    tax - Decimal(band["tax"]),
                )
        for (invoice_id, rate), (net, tax) in credited.items():
            band = next(b for b in invoices[invoice_id].taxes if b["rate"] == rate)
            assert 0 <= net <= Decimal(band["net"]), (rate, net, band)
            assert 0 <= tax <= Decimal(band["tax"]), (rate, tax, band)

    def check_settled(self):
        """Once nothing is due, every order has reached an end that matches its money."""
        saga = Delivery.objects.filter(SAGA_SUBSCRIBERS)
        assert set(saga.values_list("status", flat=True)) <= {DeliveryStatus.DONE}
        payments = dict(Payment.objects.values_list("order_id", "status"))
        invoices = Counter(Invoice.objects.values_list("order_id", "kind"))
        refunded = dict(Payment.objects.values_list("order_id", "refunded_amount"))
        for order_id, status in Order.objects.values_list("pk", "status"):
            kinds = {kind: invoices[(order_id, kind)] for kind in ("invoice", "credit_note")}
            credited = Decimal("0.00")
            for invoice in Invoice.objects.filter(order_id=order_id):
                # tax per rate adds up to the invoice's tax, net + tax to its total
                assert sum(Decimal(band["tax"]) for band in invoice.taxes) == invoice.tax
                bands = sum(Decimal(band["net"]) + Decimal(band["tax"]) for band in invoice.taxes)
                assert bands == invoice.total
                if invoice.kind == "invoice":
                    assert invoice.total == Order.objects.get(pk=order_id).total
                else:
                    credited -= invoice.total
            payment = payments.get(order_id)
            if kinds["invoice"] and status != "cancelled":
                # each refund is a credit note: they add up to what was refunded
                assert credited == refunded[order_id], (order_id, credited, refunded[order_id])
            if status in ("confirmed", *SHIPPED_SOME):
                assert payment in ("captured", "partially_refunded", "refunded")
                assert self.cards[order_id] == "tok_ok"
                assert kinds["invoice"] == 1
            elif status == "cancelled":
                assert payment in ("voided", "failed", "refunded")
                if payment == "refunded":
                    # the cancellation gave back the rest, or partial refunds had given it all
                    assert gateway_effects(order_id, "capture") == 1
                else:
                    assert gateway_effects(order_id, "capture") == 0
                # never invoiced, or its credit notes (refunds' and the cancellation's)
                # credit all of it
                assert kinds["invoice"] in (0, 1)
                if kinds["invoice"]:
                    total = Invoice.objects.get(order_id=order_id, kind="invoice").total
                    assert credited == total, (order_id, credited, total)
                else:
                    assert kinds["credit_note"] == 0
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
