"""Cancelling what has not shipped of a partly shipped order: stock, refund, status, event."""

from decimal import Decimal

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.choices import OrderStatus
from orders.exceptions import (
    RemainderNotCancellable,
    RemainderPaymentPending,
    RemainderRefundRefused,
)
from orders.models import Order, OrderTransition
from orders.services.dispatch import ShipmentLineInput, shipment_create
from orders.services.remainder import order_cancel_remainder
from payments.gateway import GatewayResult
from payments.models import Invoice, Payment, Refund
from payments.services import payment_refund, refunding
from testkit.factories import STAFF, ProductFactory, ShopFactory, order_in
from testkit.payments import confirmed_order

from ..assertions import row_counts, stock_of

pytestmark = pytest.mark.django_db

SHOP_KEY = services.Actor(kind="shop-key", name="Ab12Cd34")


@pytest.fixture
def shop(db):
    shop = ShopFactory(name="Beans & Co")
    ProductFactory(shop=shop, sku="COFFEE-1KG", name="Coffee 1 kg", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", name="Mug", price="9.90", on_hand=20)
    return shop


def _ship(order, lines: dict[str, int], number: str = "JD1") -> None:
    shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number=f"{number}-{order.number}",
        lines=[ShipmentLineInput(sku, units) for sku, units in lines.items()],
    )


def _partly_shipped(shop) -> Order:
    """Paid 59.70 (2 x COFFEE-1KG at 24.90, 1 x MUG at 9.90); one coffee has left."""
    order, _ = confirmed_order(shop)
    _ship(order, {"COFFEE-1KG": 1})
    return Order.objects.get(pk=order.pk)


def _events(order, event_type: str) -> list[dict]:
    return list(
        OutboxEvent.objects.filter(aggregate_id=str(order.pk), type=event_type)
        .order_by("sequence")
        .values_list("data", flat=True)
    )


def test_cancels_the_units_not_shipped_releases_their_stock_and_refunds_their_share(shop):
    order = _partly_shipped(shop)
    assert stock_of(shop) == {"COFFEE-1KG": (49, 1), "MUG": (20, 1)}

    done = order_cancel_remainder(
        order_id=order.pk, shop=shop, actor=SHOP_KEY, reason="Out of mugs"
    )

    assert [(line.sku, line.quantity) for line in done.lines] == [("COFFEE-1KG", 1), ("MUG", 1)]
    assert done.refunded_amount == Decimal("34.80")
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.status_reason) == ("shipped", "Out of mugs")
    assert list(
        OrderTransition.objects.filter(order=order)
        .order_by("-id")
        .values_list("from_status", "to_status", "actor")[:1]
    ) == [("partially_shipped", "shipped", "shop-key:Ab12Cd34")]
    # the shipped coffee stays consumed; the rest is free again
    assert stock_of(shop) == {"COFFEE-1KG": (49, 0), "MUG": (20, 0)}
    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.status, payment.refunded_amount) == ("partially_refunded", Decimal("34.80"))
    refund = Refund.objects.get()
    assert (refund.pk, refund.amount, refund.lines) == (
        done.refund_id,
        Decimal("34.80"),
        [{"sku": "COFFEE-1KG", "quantity": 1}, {"sku": "MUG", "quantity": 1}],
    )
    # a credit note of those units, as any refund of lines
    note = Invoice.objects.get(kind="credit_note")
    assert (note.refund_id, note.total) == (refund.pk, Decimal("-34.80"))
    assert _events(order, "order.remainder_cancelled") == [
        {
            "order_id": str(order.pk),
            "shop_id": shop.id,
            "number": order.number,
            "lines": [
                {"sku": "COFFEE-1KG", "quantity": 1, "name": "Coffee 1 kg"},
                {"sku": "MUG", "quantity": 1, "name": "Mug"},
            ],
            "reason": "Out of mugs",
            "refunded_amount": "34.80",
            "currency": "EUR",
            "refund_id": str(refund.pk),
            "previous_status": "partially_shipped",
            "status": "shipped",
            "actor": "shop-key:Ab12Cd34",
        }
    ]
    # the refund's own event sends no e-mail: the cancellation's tells the customer
    refunded = OutboxEvent.objects.get(type="payment.refunded")
    assert (refunded.data["amount"], refunded.data["on_request"]) == ("34.80", False)


def test_the_shipping_charge_is_not_refunded(shop):
    order = _partly_shipped(shop)
    Order.objects.filter(pk=order.pk).update(shipping_total=Decimal("5.00"))

    done = order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF)

    assert done.refunded_amount == Decimal("34.80")


def test_a_line_partly_shipped_cancels_only_its_units_still_waiting(shop):
    order, _ = confirmed_order(shop)
    _ship(order, {"COFFEE-1KG": 1, "MUG": 1})

    done = order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF)

    assert [(line.sku, line.quantity) for line in done.lines] == [("COFFEE-1KG", 1)]
    assert done.refunded_amount == Decimal("24.90")
    assert stock_of(shop) == {"COFFEE-1KG": (49, 0), "MUG": (19, 0)}


@pytest.mark.parametrize(
    ("parcels", "status"),
    [
        (["out_for_delivery"], "out_for_delivery"),
        (["delivered"], "delivered"),
        (["delivered", "in_transit"], "shipped"),
        (["returned_to_sender"], "shipped"),
    ],
)
def test_the_order_moves_as_far_as_its_parcels_are(shop, parcels, status):
    order, _ = confirmed_order(shop)
    _ship(order, {"COFFEE-1KG": 1}, "JD1")
    if len(parcels) > 1:
        _ship(order, {"COFFEE-1KG": 1}, "JD2")
    for parcel, parcel_status in zip(order.shipments.order_by("created_at"), parcels, strict=True):
        parcel.status = parcel_status
        parcel.save(update_fields=["status"])

    order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF)

    assert Order.objects.get(pk=order.pk).status == status
    assert _events(order, "order.remainder_cancelled")[0]["status"] == status


def test_a_second_request_finds_nothing_left_and_changes_nothing(shop):
    order = _partly_shipped(shop)
    order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF)
    before, stock = row_counts(), stock_of(shop)

    with pytest.raises(RemainderNotCancellable) as refused:
        order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF)

    assert (refused.value.status, refused.value.code) == (409, "remainder-not-cancellable")
    assert refused.value.extra["cause"] == "fully_shipped"
    assert "nothing is left to cancel" in refused.value.detail
    assert (row_counts(), stock_of(shop), Refund.objects.count()) == (before, stock, 1)


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        ("confirmed", "not_shipped"),
        ("shipped", "fully_shipped"),
        ("delivered", "fully_shipped"),
        ("cancelled", "closed"),
    ],
)
def test_an_order_not_partly_shipped_is_refused_with_nothing_changed(shop, status, cause):
    order = order_in(shop, status, lines={"MUG": 1})
    before, stock = row_counts(), stock_of(shop)

    with pytest.raises(RemainderNotCancellable) as refused:
        order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF)

    assert refused.value.extra["cause"] == cause
    assert refused.value.extra["order_status"] == status
    assert (row_counts(), stock_of(shop)) == (before, stock)


def test_another_shops_order_does_not_exist(shop):
    order = _partly_shipped(shop)
    other = ShopFactory()

    with pytest.raises(Order.DoesNotExist):
        order_cancel_remainder(order_id=order.pk, shop=other, actor=STAFF)

    assert Order.objects.get(pk=order.pk).status == "partially_shipped"


def test_a_capture_still_to_come_is_refused_until_it_has_run(shop):
    order = order_in(shop, "confirmed", lines={"MUG": 2})  # no payment captured yet
    _ship(order, {"MUG": 1})
    before, stock = row_counts(), stock_of(shop)

    with pytest.raises(RemainderPaymentPending) as refused:
        order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF)

    assert (refused.value.status, refused.value.code) == (409, "payment-in-flight")
    assert refused.value.headers == {"Retry-After": "5"}
    assert (row_counts(), stock_of(shop)) == (before, stock)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PARTIALLY_SHIPPED


def test_a_payment_refunded_in_full_cancels_the_units_without_a_refund(shop):
    order = _partly_shipped(shop)
    payment_refund(order_id=order.pk, shop_id=None, amount=Decimal("59.70"), reason="goodwill")

    done = order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF)

    assert (done.refunded_amount, done.refund_id) == (Decimal("0.00"), None)
    assert Refund.objects.count() == 1
    assert stock_of(shop) == {"COFFEE-1KG": (49, 0), "MUG": (20, 0)}
    data = _events(order, "order.remainder_cancelled")[0]
    assert (data["refunded_amount"], data["refund_id"]) == ("0.00", None)


def test_after_a_refund_of_an_amount_the_remainder_gives_back_what_is_left_of_its_units(shop):
    order = _partly_shipped(shop)
    # 40.00 of 59.70 given back already, from every line in proportion: 33.37 of the
    # coffees' 49.80 and 6.63 of the mug's 9.90 (payments.refund_shares)
    payment_refund(order_id=order.pk, shop_id=None, amount=Decimal("40.00"), reason="goodwill")

    order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF)

    # one coffee of the two left: half of the 16.43 left of them (8.22); the mug's 3.27 left
    refund = Refund.objects.exclude(lines=[]).get()
    assert refund.amount == Decimal("11.49")
    assert Payment.objects.get(order_id=order.pk).refunded_amount == Decimal("51.49")


def test_a_declined_refund_cancels_nothing_and_is_kept(shop, monkeypatch):
    order = _partly_shipped(shop)
    before, stock = row_counts(), stock_of(shop)

    class DecliningGateway:  # the payment provider, outside the system
        def refund(self, **call):
            return GatewayResult(ok=False, reference="", message="card closed")

    monkeypatch.setattr(refunding, "get_gateway", DecliningGateway)

    with pytest.raises(RemainderRefundRefused) as refused:
        order_cancel_remainder(order_id=order.pk, shop=None, actor=STAFF)

    assert "declined" in refused.value.detail
    # raised after its transaction: the declined refund stands (its gateway key is spent)
    assert refused.value.writes_stand
    assert (row_counts(), stock_of(shop)) == (before, stock)
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"
    assert list(Refund.objects.values_list("status", "idempotency_key")) == [
        ("failed", f"order-{order.pk}-refund-1")
    ]
