"""Returns: quantities, the steps and their order, the events, the refund and the restock."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection

from orderflow.models import OutboxEvent
from orders import services as order_services
from orders.choices import OrderStatus
from orders.exceptions import ReturnInputError, ReturnNotAllowed, ReturnRefundRefused
from orders.models import Order, OrderLine, Return, ReturnLine
from orders.services import returns
from orders.services.dispatch import ShipmentLineInput, shipment_create
from orders.services.returns import ReturnLineInput
from payments.models import Invoice, Payment, Refund
from testkit.factories import STAFF, ProductFactory, ShopFactory, order_in
from testkit.payments import confirmed_order

from ..assertions import stock_of

pytestmark = pytest.mark.django_db

SHOP_KEY = order_services.Actor(kind="shop-key", name="Ab12Cd34")


def _shipped(shop, status=OrderStatus.DELIVERED) -> Order:
    """A paid order (2 x COFFEE-1KG at 24.90, 1 x MUG at 9.90) brought to ``status``."""
    order, _ = confirmed_order(shop)
    order = order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number=f"JD{order.pk}"
    )
    if status == OrderStatus.DELIVERED:
        order = order_services.order_deliver(order_id=order.pk, shop=None, actor=STAFF)
    return order


def _request(order, lines=None, **kwargs) -> Return:
    return returns.return_request(
        order_id=order.pk,
        shop_id=kwargs.pop("shop_id", order.shop_id),
        lines=[ReturnLineInput(sku, n) for sku, n in (lines or {"MUG": 1}).items()],
        reason=kwargs.pop("reason", "Arrived chipped."),
        actor=kwargs.pop("actor", SHOP_KEY),
    )


def _return_events(order) -> list[tuple[str, dict]]:
    return [
        (event.type, event.data)
        for event in OutboxEvent.objects.filter(
            aggregate_id=str(order.pk), type__startswith="return."
        ).order_by("sequence")
    ]


@pytest.fixture
def shop(db):
    shop = ShopFactory(name="Beans & Co")
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", price="9.90", on_hand=20)
    return shop


def test_request_opens_a_return_and_publishes_its_facts(shop):
    order = _shipped(shop)

    order_return = _request(order, {"COFFEE-1KG": 2, "MUG": 1})

    assert (order_return.number, order_return.status, order_return.requested_by) == (
        1,
        "requested",
        "shop-key:Ab12Cd34",
    )
    assert list(order_return.lines.values_list("sku", "quantity")) == [
        ("COFFEE-1KG", 2),
        ("MUG", 1),
    ]
    [(event_type, data)] = _return_events(order)
    names = dict(order.lines.values_list("sku", "name"))
    assert event_type == "return.requested"
    assert data == {
        "return_id": str(order_return.pk),
        "return_number": 1,
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "lines": [
            {"sku": sku, "quantity": quantity, "name": names[sku]}
            for sku, quantity in (("COFFEE-1KG", 2), ("MUG", 1))
        ],
        "reason": "Arrived chipped.",
        "status": "",
        "actor": "shop-key:Ab12Cd34",
    }
    assert Order.objects.get(pk=order.pk).status == "delivered"  # the order's status stays


@pytest.mark.parametrize("status", ["placed", "reserved", "confirmed", "cancelled"])
def test_an_order_that_has_not_shipped_cannot_have_a_return(shop, status):
    order = order_in(shop, status, lines={"MUG": 1})

    with pytest.raises(ReturnNotAllowed) as raised:
        _request(order)

    assert raised.value.status == 409
    assert "only an order that has shipped (all or part of it)" in raised.value.detail
    assert not Return.objects.exists()
    assert not OutboxEvent.objects.filter(type__startswith="return.").exists()


def test_a_shipped_order_can_have_a_return(shop):
    order = _shipped(shop, status=OrderStatus.SHIPPED)

    assert _request(order).status == "requested"


def test_a_partly_shipped_order_may_return_only_what_left_in_its_parcels(shop):
    order, _ = confirmed_order(shop)  # 2 x COFFEE-1KG, 1 x MUG
    shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number="JD00000042",
        lines=[ShipmentLineInput(sku="COFFEE-1KG", quantity=1)],
    )
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"

    with pytest.raises(ReturnInputError) as raised:
        _request(order, {"COFFEE-1KG": 2, "MUG": 1})
    order_return = _request(order, {"COFFEE-1KG": 1})

    assert [(e.attr, e.code, e.detail) for e in raised.value.errors] == [
        (
            "lines.0.quantity",
            "exceeds_returnable",
            f"1 COFFEE-1KG of order {order.number} may still be returned, not 2.",
        ),
        (
            "lines.1.quantity",
            "exceeds_returnable",
            f"0 MUG of order {order.number} may still be returned, not 1.",
        ),
    ]
    assert order_return.status == "requested"


def test_quantities_never_exceed_what_shipped_counting_earlier_returns(shop):
    order = _shipped(shop)
    _request(order, {"COFFEE-1KG": 1})

    with pytest.raises(ReturnInputError) as raised:
        _request(order, {"COFFEE-1KG": 2, "TEA": 1, "MUG": 2})

    assert [(e.attr, e.code) for e in raised.value.errors] == [
        ("lines.0.quantity", "exceeds_returnable"),
        ("lines.1.sku", "not_on_order"),
        ("lines.2.quantity", "exceeds_returnable"),
    ]
    assert raised.value.errors[0].detail == (
        f"1 COFFEE-1KG of order {order.number} may still be returned, not 2."
    )
    assert Return.objects.count() == 1
    assert _request(order, {"COFFEE-1KG": 1}).number == 2


def test_a_sku_listed_twice_and_no_lines_are_refused(shop):
    order = _shipped(shop)

    with pytest.raises(ReturnInputError) as twice:
        returns.return_request(
            order_id=order.pk,
            shop_id=None,
            lines=[ReturnLineInput("MUG", 1), ReturnLineInput("MUG", 1)],
            reason="x",
            actor=STAFF,
        )
    with pytest.raises(ReturnInputError) as empty:
        returns.return_request(order_id=order.pk, shop_id=None, lines=[], reason="x", actor=STAFF)

    assert [(e.attr, e.code) for e in twice.value.errors] == [("lines.1.sku", "duplicate")]
    assert [(e.attr, e.code) for e in empty.value.errors] == [("lines", "required")]
    assert not Return.objects.exists()


def test_a_rejected_returns_units_may_be_asked_for_again(shop):
    order = _shipped(shop)
    first = _request(order, {"MUG": 1})
    returns.return_reject(return_id=first.pk, actor=STAFF, reason="Used, not faulty.")

    second = _request(order, {"MUG": 1})

    assert (second.number, second.status) == (2, "requested")


def test_another_shops_order_does_not_exist(shop):
    order = _shipped(shop)
    other = ShopFactory()

    with pytest.raises(Order.DoesNotExist):
        _request(order, shop_id=other.pk)
    with pytest.raises(Return.DoesNotExist):
        returns.return_approve(return_id=_request(order).pk, actor=STAFF, shop_id=other.pk)


def test_the_steps_to_a_refund_of_the_returned_lines(shop):
    order = _shipped(shop)
    order_return = _request(order, {"MUG": 1})

    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    returns.return_receive(return_id=order_return.pk, actor=STAFF, restock=False)
    refunded = returns.return_refund(return_id=order_return.pk, actor=STAFF)

    assert (refunded.status, refunded.refunded_amount, refunded.restock) == (
        "refunded",
        Decimal("9.90"),
        False,
    )
    assert (refunded.decided_by, refunded.received_by, refunded.settled_by) == ("staff:ana",) * 3
    assert None not in (refunded.decided_at, refunded.received_at, refunded.settled_at)
    refund = Refund.objects.get()
    assert (refund.amount, refund.lines, refunded.refund_id) == (
        Decimal("9.90"),
        [{"sku": "MUG", "quantity": 1}],
        refund.pk,
    )
    assert refund.reason == f"Return {order.number}-R1: Arrived chipped."
    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.status, payment.refunded_amount) == ("partially_refunded", Decimal("9.90"))
    types = [event_type for event_type, _ in _return_events(order)]
    assert types == ["return.requested", "return.approved", "return.received", "return.refunded"]
    _, refunded_data = _return_events(order)[-1]
    assert (refunded_data["amount"], refunded_data["currency"], refunded_data["refund_id"]) == (
        "9.90",
        "EUR",
        str(refund.pk),
    )
    # the return's event tells the customer (its units and credit note); the refund's does not
    credit_note = Invoice.objects.get(refund=refund)
    assert (refunded_data["lines"], refunded_data["credit_note"]) == (
        [{"sku": "MUG", "quantity": 1, "name": OrderLine.objects.get(order=order, sku="MUG").name}],
        credit_note.number,
    )
    [payment_refunded] = OutboxEvent.objects.filter(type="payment.refunded")
    assert (payment_refunded.data["on_request"], payment_refunded.data["credit_note"]) == (
        False,
        credit_note.number,
    )


def test_a_refund_of_an_amount(shop):
    order = _shipped(shop)
    order_return = _request(order, {"COFFEE-1KG": 1})
    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    returns.return_receive(return_id=order_return.pk, actor=STAFF, restock=False)

    refunded = returns.return_refund(
        return_id=order_return.pk, actor=STAFF, amount=Decimal("20.00")
    )

    assert refunded.refunded_amount == Decimal("20.00")
    assert Refund.objects.get().lines == []


def test_a_refund_the_payment_refuses_changes_nothing(shop):
    order = _shipped(shop)
    order_return = _request(order, {"MUG": 1})
    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    returns.return_receive(return_id=order_return.pk, actor=STAFF, restock=False)
    before = OutboxEvent.objects.count()

    with pytest.raises(ReturnRefundRefused) as raised:
        returns.return_refund(return_id=order_return.pk, actor=STAFF, amount=Decimal("500.00"))

    assert raised.value.status == 409
    assert "more than what is left to refund" in raised.value.detail
    assert Return.objects.get().status == "received"
    assert not Refund.objects.exists()
    assert OutboxEvent.objects.count() == before


def test_receiving_with_restock_puts_the_units_back_on_hand(shop):
    order = _shipped(shop)
    order_return = _request(order, {"COFFEE-1KG": 2})
    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    before = stock_of(shop)["COFFEE-1KG"]

    received = returns.return_receive(return_id=order_return.pk, actor=STAFF, restock=True)

    assert (received.status, received.restock) == ("received", True)
    assert stock_of(shop)["COFFEE-1KG"] == (before[0] + 2, before[1])
    *_, (event_type, data) = _return_events(order)
    assert (event_type, data["restocked"]) == ("return.received", True)


def test_closing_without_a_refund(shop):
    order = _shipped(shop)
    order_return = _request(order)
    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    returns.return_receive(return_id=order_return.pk, actor=STAFF, restock=False)

    closed = returns.return_close(return_id=order_return.pk, actor=STAFF, reason="Replaced")

    assert closed.status == "closed"
    assert not Refund.objects.exists()
    *_, (event_type, data) = _return_events(order)
    assert (event_type, data["reason"]) == ("return.closed", "Replaced")


@pytest.mark.parametrize(
    ("steps", "step"),
    [
        ([], "receive"),
        ([], "refund"),
        ([], "close"),
        (["approve"], "approve"),
        (["approve"], "reject"),
        (["approve"], "refund"),
        (["reject"], "approve"),
        (["approve", "receive"], "receive"),
        (["approve", "receive", "refund"], "refund"),
        (["approve", "receive", "close"], "refund"),
    ],
)
def test_a_step_out_of_order_is_refused_and_changes_nothing(shop, steps, step):
    order = _shipped(shop)
    order_return = _request(order)
    run = {
        "approve": lambda: returns.return_approve(return_id=order_return.pk, actor=STAFF),
        "reject": lambda: returns.return_reject(
            return_id=order_return.pk, actor=STAFF, reason="no"
        ),
        "receive": lambda: returns.return_receive(
            return_id=order_return.pk, actor=STAFF, restock=False
        ),
        "refund": lambda: returns.return_refund(return_id=order_return.pk, actor=STAFF),
        "close": lambda: returns.return_close(return_id=order_return.pk, actor=STAFF),
    }
    for done in steps:
        run[done]()
    status = Return.objects.get().status
    events = OutboxEvent.objects.count()

    with pytest.raises(ReturnNotAllowed) as raised:
        run[step]()

    assert raised.value.status == 409
    assert Return.objects.get().status == status
    assert OutboxEvent.objects.count() == events


def test_a_rejection_needs_a_reason(shop):
    order_return = _request(_shipped(shop))

    with pytest.raises(ReturnInputError):
        returns.return_reject(return_id=order_return.pk, actor=STAFF, reason="  ")

    assert Return.objects.get().status == "requested"


@pytest.mark.django_db(transaction=True)
def test_concurrent_returns_never_claim_more_units_than_shipped():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", price="9.90", on_hand=20)
    order = _shipped(shop)  # 2 x COFFEE-1KG
    workers = 6
    start = threading.Barrier(workers, timeout=60)  # a lost worker fails, never hangs

    def ask(_):
        start.wait()
        try:
            return _request(order, {"COFFEE-1KG": 1}).number
        except ReturnInputError as error:
            return error.errors[0].code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(ask, range(workers)))

    assert sorted(r for r in results if isinstance(r, int)) == [1, 2]
    assert results.count("exceeds_returnable") == workers - 2
    assert sum(ReturnLine.objects.values_list("quantity", flat=True)) == 2
