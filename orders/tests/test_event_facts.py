"""Every order event carries its facts: the status after it and who caused it.

Readers (tracking, notifications, webhooks) take ``status`` and ``actor`` from the event
instead of asking the orders context back; here each publisher is checked to fill them,
and the actor to be the one the order's transition history records.
"""

import uuid

import pytest

from orderflow.models import OutboxEvent
from orders import services
from orders.events import OrderPlaced, OrderStatus, StockReserved
from orders.models import Order, OrderTransition
from orders.services.parcel_issues import shipment_issue_resolve
from testkit.factories import STAFF, order_for, order_in

pytestmark = pytest.mark.django_db

NEW_ADDRESS = {"line1": "Rua Nova 5", "city": "Lisboa", "postal_code": "1000-001", "country": "PT"}


def _reserved(shop):
    return order_in(shop, "reserved")


def _rejected(shop):
    order = order_for(shop, lines={"MUG": 10_000})
    return services.order_reserve_stock(order_id=order.pk)


def _confirmed(shop):
    return order_in(shop, "confirmed")


def _cancelled_by_staff(shop):
    return order_in(shop, "cancelled")


def _cancelled_by_failed_payment(shop):
    order = order_in(shop, "reserved")
    return services.order_fail_payment(order_id=order.pk, reason="card declined")


def _delivered_by_staff(shop):
    return order_in(shop, "delivered")


def _shipped(shop):
    return order_in(shop, "shipped")


def _carrier_report(status):
    def make(shop):
        order = _shipped(shop)
        services.shipment_report(
            carrier="DHL",
            event_id=str(uuid.uuid4()),
            tracking_number=order.tracking_number,
            status=status,
            location="Hub",
        )
        return order

    return make


def _issue_resolved(shop):
    order = _carrier_report("held")(shop)
    shipment_issue_resolve(
        order_id=order.pk,
        shipment_id=order.shipments.get().pk,
        actor=STAFF,
        note="Called the customer",
    )
    return order


def _customer_changed(shop):
    order = order_for(shop)
    return services.order_change_customer(
        order_id=order.pk, shop=shop, actor=STAFF, name="Ana S.", email="ana.s@example.com"
    )


def _address_changed(shop):
    order = order_for(shop)
    return services.order_change_shipping_address(
        order_id=order.pk, shop=shop, actor=STAFF, shipping_address=NEW_ADDRESS
    )


#: the statuses an order may have moved on to after the event's own, in these scenarios
_LATER = {
    "paid": ("confirmed",),
    "shipped": ("out_for_delivery", "delivered"),
    "out_for_delivery": ("delivered",),
}
_LATER = {status: _LATER.get(status, ()) for status in OrderStatus.values}


@pytest.mark.parametrize(
    ("make", "event_type", "status", "actor"),
    [
        (_reserved, "stock.reserved", "reserved", "system"),
        (_rejected, "order.rejected", "rejected", "system"),
        (_confirmed, "order.paid", "paid", "system"),
        (_confirmed, "order.confirmed", "confirmed", "system"),
        (_cancelled_by_staff, "order.cancelled", "cancelled", "staff:ana"),
        (_cancelled_by_failed_payment, "order.cancelled", "cancelled", "system"),
        (_shipped, "shipment.dispatched", "shipped", "staff:ana"),
        (_delivered_by_staff, "shipment.out_for_delivery", "out_for_delivery", "staff:ana"),
        (_delivered_by_staff, "shipment.delivered", "delivered", "staff:ana"),
        (
            _carrier_report("out_for_delivery"),
            "shipment.out_for_delivery",
            "out_for_delivery",
            "carrier:DHL",
        ),
        (_carrier_report("delivered"), "shipment.delivered", "delivered", "carrier:DHL"),
        (_carrier_report("in_transit"), "shipment.in_transit", "", "carrier:DHL"),
        (_carrier_report("delivery_failed"), "shipment.delivery_failed", "", "carrier:DHL"),
        (_carrier_report("held"), "shipment.held", "", "carrier:DHL"),
        (
            _carrier_report("returned_to_sender"),
            "shipment.returned_to_sender",
            "",
            "carrier:DHL",
        ),
        (_carrier_report("cancelled"), "shipment.cancelled", "", "carrier:DHL"),
        (_issue_resolved, "shipment.issue_resolved", "", "staff:ana"),
        (_customer_changed, "order.customer_changed", "", "staff:ana"),
        (_address_changed, "order.shipping_address_changed", "", "staff:ana"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_order_event_carries_the_status_after_it_and_its_actor(
    shop, products, make, event_type, status, actor
):
    order = make(shop)

    event = OutboxEvent.objects.get(aggregate_id=str(order.pk), type=event_type)
    assert (event.data["status"], event.data["actor"]) == (status, actor)
    if status:
        assert status in OrderStatus.values
        recorded = (
            OrderTransition.objects.filter(order_id=order.pk, to_status=status)
            .values_list("actor", flat=True)
            .get()
        )
        assert recorded == actor  # the same name the order's history gives
        assert Order.objects.get(pk=order.pk).status in (status, *_LATER[status])


def test_every_order_event_declares_the_facts_with_defaults():
    """Stored events from before the facts stay valid: the fields are optional."""
    from orderflow.events import event_types

    order_types = [cls for cls in event_types().values() if cls.aggregate == "order"]
    # stock.restocked, the six return.*, order.remainder_cancelled, shipment.held,
    # .returned_to_sender, .cancelled and .issue_resolved among them
    assert len(order_types) == 25
    for cls in order_types:
        fields = cls.__dataclass_fields__
        assert fields["status"].default == "", cls.type
        assert fields["actor"].default == "", cls.type
    assert OrderPlaced.__dataclass_fields__["shop_name"].default == ""
    assert OrderPlaced.__dataclass_fields__["tracking_token"].default == ""


def test_an_event_stored_before_the_facts_still_reads(shop, products):
    order = order_in(shop, "reserved")
    data = OutboxEvent.objects.get(aggregate_id=str(order.pk), type="stock.reserved").data
    del data["status"], data["actor"]

    event = StockReserved.from_data(data)

    assert (event.status, event.actor, event.number) == ("", "", order.number)


def test_the_status_vocabulary_is_the_orders_one():
    from orders.choices import OrderStatus as ChoicesStatus

    assert OrderStatus is ChoicesStatus
    assert OrderStatus.CONFIRMED == "confirmed"
    assert isinstance(OrderStatus.CONFIRMED, str)
