"""0012: every order with a tracking number gets one shipment holding all its lines (#16)."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from orders import services
from orders.models import CarrierReport, Order, OrderTransition, Shipment, ShipmentLine
from testkit.factories import order_in

pytestmark = pytest.mark.django_db

migration = importlib.import_module("orders.migrations.0012_shipments")


def _as_before_shipments(*orders):
    """Orders shipped the old way: carrier and number on the order, no shipment rows."""
    CarrierReport.objects.update(shipment=None)
    Shipment.objects.filter(order__in=orders).delete()


def test_each_shipped_order_gets_one_parcel_with_all_its_lines(shop, products):
    shipped = order_in(shop, "shipped", lines={"COFFEE-1KG": 2, "MUG": 1})
    out = order_in(shop, "out_for_delivery", lines={"MUG": 1})
    delivered = order_in(shop, "delivered", lines={"FILTER": 3})
    confirmed = order_in(shop, "confirmed", lines={"MUG": 1})
    services.shipment_report(
        carrier="DHL", event_id="e-1", tracking_number=out.tracking_number, status="in_transit"
    )
    _as_before_shipments(shipped, out, delivered)

    migration.one_shipment_per_shipped_order(apps, SimpleNamespace(connection=connection))

    parcels = {
        parcel.order_id: parcel
        for parcel in Shipment.objects.prefetch_related("lines").order_by("created_at")
    }
    assert set(parcels) == {shipped.pk, out.pk, delivered.pk}
    assert {
        order_id: (p.carrier, p.tracking_number, p.status, p.actor)
        for order_id, p in parcels.items()
    } == {
        order.pk: ("DHL", Order.objects.get(pk=order.pk).tracking_number, status, "staff:ana")
        for order, status in [
            (shipped, "in_transit"),
            (out, "out_for_delivery"),
            (delivered, "delivered"),
        ]
    }
    assert sorted(parcels[shipped.pk].lines.values_list("sku", "quantity")) == [
        ("COFFEE-1KG", 2),
        ("MUG", 1),
    ]
    shipped_at = OrderTransition.objects.get(order=shipped, to_status="shipped").created_at
    assert parcels[shipped.pk].created_at == shipped_at
    assert CarrierReport.objects.get().shipment_id == parcels[out.pk].pk
    assert not Shipment.objects.filter(order=confirmed).exists()
    assert ShipmentLine.objects.count() == 4
