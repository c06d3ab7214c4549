"""A parcel and the cancellation of the rest, at once: each unit is shipped or cancelled, once.

Real threads on their own connections. The race is driven by gates, never by sleeps: the
cancellation is held at the simulated gateway's refund gate (holding the order row), or
the parcel is held by a table lock the test takes on the shipments; what PostgreSQL says
each request waits for tells the test when the other has arrived.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from orders.exceptions import InvalidTransition, RemainderNotCancellable
from orders.models import Order, Shipment, ShipmentLine
from orders.services.dispatch import ShipmentLineInput, shipment_create
from orders.services.remainder import order_cancel_remainder
from payments.gateway import GatewayGate, SimulatedGateway
from payments.models import Payment, Refund
from testkit.factories import STAFF, ProductFactory, ShopFactory
from testkit.payments import confirmed_order
from tests.fixtures import wait_for

from ..assertions import stock_of

pytestmark = pytest.mark.django_db(transaction=True)


class Attempt(threading.Thread):
    """Run one service call on this thread's own connection; keep its result or error."""

    def __init__(self, call):
        super().__init__()
        self.call, self.result, self.error = call, None, None

    def run(self):
        try:
            self.result = self.call()
        except Exception as error:
            self.error = error
        finally:
            connection.close()


class TableLock(threading.Thread):
    """Hold ``LOCK TABLE orders_shipment IN SHARE MODE`` until ``release`` is set: a parcel
    being written waits at its INSERT, after it has locked its order."""

    def __init__(self):
        super().__init__()
        self.taken, self.release = threading.Event(), threading.Event()

    def run(self):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("LOCK TABLE orders_shipment IN SHARE MODE")
                self.taken.set()
                self.release.wait(timeout=60)
        finally:
            connection.close()


def _waiting_on_a_lock(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            [f"%{table}%"],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def order():
    """Paid 59.70 (2 x COFFEE-1KG at 24.90, 1 x MUG at 9.90); one coffee has left."""
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", price="9.90", on_hand=20)
    order, _ = confirmed_order(shop)
    _ship(order, {"COFFEE-1KG": 1}, "JD1")
    return Order.objects.get(pk=order.pk)


def _ship(order, lines: dict[str, int], number: str):
    return shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number=f"{number}-{order.number}",
        lines=[ShipmentLineInput(sku, units) for sku, units in lines.items()],
    )


def _shipped_units(order) -> dict[str, int]:
    units: dict[str, int] = {}
    for sku, quantity in ShipmentLine.objects.filter(shipment__order=order).values_list(
        "sku", "quantity"
    ):
        units[sku] = units.get(sku, 0) + quantity
    return units


def test_a_parcel_arriving_while_the_rest_is_cancelled_ships_nothing(order):
    refund_key = f"order-{order.pk}-refund-1"
    GatewayGate.close("refund")
    try:
        # given the cancellation held at the gateway, its order row locked
        cancel = Attempt(lambda: order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF))
        cancel.start()
        wait_for(lambda: GatewayGate.held("refund", refund_key), what="the refund held")
        # when a parcel of the last coffee and the mug arrives and waits for the order
        parcel = Attempt(lambda: _ship(order, {"COFFEE-1KG": 1, "MUG": 1}, "JD2"))
        parcel.start()
        wait_for(lambda: _waiting_on_a_lock("orders_order"), what="the parcel to wait")
        assert Order.objects.get(pk=order.pk).status == "partially_shipped"
    finally:
        GatewayGate.open("refund")
    cancel.join()
    parcel.join()

    # then the cancellation took every waiting unit and the parcel found none left
    assert cancel.error is None, cancel.error
    assert [(line.sku, line.quantity) for line in cancel.result.lines] == [
        ("COFFEE-1KG", 1),
        ("MUG", 1),
    ]
    assert isinstance(parcel.error, InvalidTransition), parcel.error
    assert parcel.error.detail == "The order is shipped; it cannot become shipped."
    assert Shipment.objects.filter(order=order).count() == 1
    assert _shipped_units(order) == {"COFFEE-1KG": 1}
    assert stock_of(order.shop) == {"COFFEE-1KG": (49, 0), "MUG": (20, 0)}
    payment = Payment.objects.get(order_id=order.pk)
    assert payment.refunded_amount == Decimal("34.80")
    assert SimulatedGateway.effects("refund", refund_key) == 1
    assert Order.objects.get(pk=order.pk).status == "shipped"


def test_a_cancellation_arriving_while_a_parcel_is_written_cancels_only_what_it_left(order):
    gate = TableLock()
    gate.start()
    try:
        assert gate.taken.wait(timeout=30)
        # given a parcel of the last coffee held at its INSERT, its order row locked
        parcel = Attempt(lambda: _ship(order, {"COFFEE-1KG": 1}, "JD2"))
        parcel.start()
        wait_for(lambda: _waiting_on_a_lock("orders_shipment"), what="the parcel held")
        # when the cancellation of the rest arrives and waits for the order
        cancel = Attempt(lambda: order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF))
        cancel.start()
        wait_for(lambda: _waiting_on_a_lock("orders_order"), what="the cancellation to wait")
        assert not Refund.objects.exists()
    finally:
        gate.release.set()
    gate.join()
    parcel.join()
    cancel.join()

    # then the parcel took its coffee and the cancellation only the mug it left
    assert parcel.error is None, parcel.error
    assert cancel.error is None, cancel.error
    assert [(line.sku, line.quantity) for line in cancel.result.lines] == [("MUG", 1)]
    assert cancel.result.refunded_amount == Decimal("9.90")
    assert _shipped_units(order) == {"COFFEE-1KG": 2}
    assert stock_of(order.shop) == {"COFFEE-1KG": (48, 0), "MUG": (20, 0)}
    assert list(Refund.objects.values_list("amount", flat=True)) == [Decimal("9.90")]
    assert Order.objects.get(pk=order.pk).status == "shipped"


def test_a_parcel_taking_the_last_units_first_leaves_nothing_to_cancel(order):
    gate = TableLock()
    gate.start()
    try:
        assert gate.taken.wait(timeout=30)
        parcel = Attempt(lambda: _ship(order, {"COFFEE-1KG": 1, "MUG": 1}, "JD2"))
        parcel.start()
        wait_for(lambda: _waiting_on_a_lock("orders_shipment"), what="the parcel held")
        cancel = Attempt(lambda: order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF))
        cancel.start()
        wait_for(lambda: _waiting_on_a_lock("orders_order"), what="the cancellation to wait")
    finally:
        gate.release.set()
    gate.join()
    parcel.join()
    cancel.join()

    assert parcel.error is None, parcel.error
    assert isinstance(cancel.error, RemainderNotCancellable), cancel.error
    assert cancel.error.extra["cause"] == "fully_shipped"
    assert _shipped_units(order) == {"COFFEE-1KG": 2, "MUG": 1}
    assert stock_of(order.shop) == {"COFFEE-1KG": (48, 0), "MUG": (19, 0)}
    assert not Refund.objects.exists()
