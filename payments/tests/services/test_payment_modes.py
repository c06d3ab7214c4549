"""Payment modes in the saga: charged, paid externally, authorised and captured on shipment.

Each step runs as its delivery would (relayed, claimed, run), twice where a redelivery must
change nothing.
"""

from decimal import Decimal

import pytest

from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.relay import relay_batch
from orderflow.models import OutboxEvent
from orders import services as order_services
from orders.models import Order
from orders.services.intake import ExternalPayment
from payments.gateway import SimulatedGateway
from payments.models import Payment, PaymentAttempt, Refund
from testkit.factories import STAFF, order_for
from testkit.payments import LINES

pytestmark = pytest.mark.django_db


def _key(order, operation: str) -> str:
    return f"order-{order.pk}-{operation}"


def _deliver(subscriber: str) -> tuple[str, str]:
    """Relay what was published and run the one delivery of ``subscriber`` twice."""
    relay_batch()
    (delivery,) = [d for d in claim_batch() if d.subscriber == subscriber]
    return run_delivery(delivery), run_delivery(delivery)


def _events(type_: str) -> list[dict]:
    return list(OutboxEvent.objects.filter(type=type_).values_list("data", flat=True))


def _reserved(shop, **pricing) -> Order:
    order = order_for(shop, lines=LINES, **pricing)
    order = order_services.order_reserve_stock(order_id=order.pk)
    assert order.status == "reserved", order.status_reason
    return order


def _ship(order: Order) -> Order:
    return order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number="JD0001"
    )


def test_a_charged_payment_shows_its_mode(shop, products):
    order = _reserved(shop)

    assert _deliver("payments.charge_on_stock_reserved") == ("done", "duplicate")

    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.mode, payment.status) == ("charge", "captured")


def test_an_external_payment_is_recorded_as_captured_with_no_gateway_call(shop, products):
    order = _reserved(
        shop, paid_externally=ExternalPayment(reference="shop-ch-881", amount=Decimal("59.70"))
    )
    assert order.payment_mode == "external"

    assert _deliver("payments.charge_on_stock_reserved") == ("done", "duplicate")

    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.mode, payment.status, payment.amount, payment.gateway_reference) == (
        "external",
        "captured",
        Decimal("59.70"),
        "shop-ch-881",
    )
    assert payment.captured_at is not None
    assert payment.authorization_reference == ""
    assert not PaymentAttempt.objects.exists()
    for operation in ("authorize", "capture"):
        assert SimulatedGateway.calls(operation, _key(order, operation)) == 0
    (captured,) = _events("payment.captured")
    assert (captured["gateway_reference"], captured["amount"]) == ("shop-ch-881", "59.70")

    # the order confirms on it as on a charge
    assert _deliver("orders.confirm_order_on_payment_captured") == ("done", "duplicate")
    assert Order.objects.get(pk=order.pk).status == "confirmed"


def test_an_external_payment_of_a_cancelled_order_is_refunded_by_the_shop(shop, products):
    order = _reserved(
        shop, paid_externally=ExternalPayment(reference="shop-ch-882", amount=Decimal("59.70"))
    )
    _deliver("payments.charge_on_stock_reserved")
    order_services.order_cancel(order_id=order.pk, shop=None, actor=STAFF, reason="late")

    assert _deliver("payments.refund_on_order_cancelled") == ("done", "duplicate")

    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.status, payment.refunded_amount) == ("refunded", Decimal("59.70"))
    (refund,) = Refund.objects.all()
    assert (refund.amount, refund.status) == (Decimal("59.70"), "succeeded")
    assert not PaymentAttempt.objects.exists()
    assert SimulatedGateway.calls("refund", _key(order, "refund")) == 0
    assert len(_events("payment.refunded")) == 1


@pytest.fixture
def captures_on_shipment(shop):
    shop.capture_on_shipment = True
    shop.save(update_fields=["capture_on_shipment"])
    return shop


def test_capture_on_shipment_authorises_only_and_the_order_confirms(captures_on_shipment, products):
    order = _reserved(captures_on_shipment)
    assert order.payment_mode == "capture_on_shipment"

    assert _deliver("payments.charge_on_stock_reserved") == ("done", "duplicate")

    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.mode, payment.status, payment.captured_at, payment.gateway_reference) == (
        "capture_on_shipment",
        "authorized",
        None,
        "",
    )
    assert payment.authorization_reference.startswith("sim_auth_")
    assert list(PaymentAttempt.objects.values_list("operation", "outcome")) == [
        ("authorize", "succeeded")
    ]
    assert SimulatedGateway.calls("capture", _key(order, "capture")) == 0
    assert _events("payment.captured") == []
    assert _events("payment.authorized") == [
        {
            "payment_id": str(payment.pk),
            "order_id": str(order.pk),
            "shop_id": captures_on_shipment.pk,
            "amount": "59.70",
            "currency": "EUR",
            "authorization_reference": payment.authorization_reference,
            "order_number": order.number,
        }
    ]

    assert _deliver("orders.confirm_order_on_payment_authorized") == ("done", "duplicate")
    assert Order.objects.get(pk=order.pk).status == "confirmed"
    assert len(_events("order.confirmed")) == 1


def test_capture_on_shipment_captures_once_when_the_order_ships(captures_on_shipment, products):
    order = _reserved(captures_on_shipment)
    _deliver("payments.charge_on_stock_reserved")
    _deliver("orders.confirm_order_on_payment_authorized")
    _ship(order)

    assert _deliver("payments.capture_on_shipment_dispatched") == ("done", "duplicate")

    payment = Payment.objects.get(order_id=order.pk)
    assert payment.status == "captured"
    assert payment.gateway_reference.startswith("sim_cap_")
    assert payment.captured_at is not None
    assert list(PaymentAttempt.objects.values_list("operation", "delivery_attempt")) == [
        ("authorize", 1),
        ("capture", 1),
    ]
    assert SimulatedGateway.effects("capture", _key(order, "capture")) == 1
    (captured,) = _events("payment.captured")
    assert (captured["gateway_reference"], captured["amount"]) == (
        payment.gateway_reference,
        "59.70",
    )
    # the order stays shipped: a capture after confirmation moves nothing on the order side
    _deliver("orders.confirm_order_on_payment_captured")
    assert Order.objects.get(pk=order.pk).status == "shipped"


def test_capture_on_shipment_captures_on_the_first_parcel_only(captures_on_shipment, products):
    order = _reserved(captures_on_shipment)
    _deliver("payments.charge_on_stock_reserved")
    _deliver("orders.confirm_order_on_payment_authorized")
    order_services.shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number="JD0000",
        lines=[order_services.ShipmentLineInput(sku="COFFEE-1KG", quantity=1)],
    )

    assert _deliver("payments.capture_on_shipment_dispatched") == ("done", "duplicate")
    assert Order.objects.get(pk=order.pk).status == "partially_shipped"
    assert Payment.objects.get(order_id=order.pk).status == "captured"

    _ship(order)  # the rest, in a second parcel: nothing more to capture
    assert _deliver("payments.capture_on_shipment_dispatched") == ("done", "duplicate")
    assert SimulatedGateway.effects("capture", _key(order, "capture")) == 1
    assert len(_events("payment.captured")) == 1


def test_a_charged_order_shipping_captures_nothing_more(shop, products):
    order = _reserved(shop)
    _deliver("payments.charge_on_stock_reserved")
    _deliver("orders.confirm_order_on_payment_captured")
    _ship(order)

    assert _deliver("payments.capture_on_shipment_dispatched") == ("done", "duplicate")

    assert SimulatedGateway.calls("capture", _key(order, "capture")) == 1
    assert PaymentAttempt.objects.filter(operation="capture").count() == 1
    assert len(_events("payment.captured")) == 1


def test_cancelling_before_shipment_voids_the_authorisation(captures_on_shipment, products):
    order = _reserved(captures_on_shipment)
    _deliver("payments.charge_on_stock_reserved")
    _deliver("orders.confirm_order_on_payment_authorized")
    order_services.order_cancel(order_id=order.pk, shop=None, actor=STAFF, reason="late")

    assert _deliver("payments.refund_on_order_cancelled") == ("done", "duplicate")

    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.status, payment.refunded_amount) == ("voided", 0)
    assert list(PaymentAttempt.objects.values_list("operation", "idempotency_key", "outcome")) == [
        ("authorize", _key(order, "authorize"), "succeeded"),
        ("void", _key(order, "void"), "succeeded"),
    ]
    assert SimulatedGateway.effects("void", _key(order, "void")) == 1
    assert SimulatedGateway.calls("capture", _key(order, "capture")) == 0
    assert not Refund.objects.exists()
    assert _events("payment.refunded") == []
    (voided,) = _events("payment.voided")
    assert (voided["amount"], voided["reason"], voided["order_number"]) == (
        "59.70",
        "late",
        order.number,
    )
