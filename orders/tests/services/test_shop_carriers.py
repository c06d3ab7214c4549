"""Carriers bound to shops, and one parcel on the road per (carrier, tracking number)."""

import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection

from orders import services
from orders.exceptions import AmbiguousParcel, CarrierNotBound, TrackingNumberInUse
from orders.models import CarrierReport, Order, Shop, ShopCarrier
from testkit.factories import STAFF, ProductFactory, ShopFactory, order_in

from ..assertions import row_counts, stock_of

pytestmark = pytest.mark.django_db


def _confirmed(shop):
    ProductFactory(shop=shop, sku="COFFEE-1KG")
    return order_in(shop, "confirmed")


def _ship(order, *, carrier="demo-post", number="DP-1"):
    return services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier=carrier, tracking_number=number
    )


def _unchanged(order) -> tuple:
    return (
        Order.objects.values_list("status", "version", "carrier", "tracking_number").get(
            pk=order.pk
        ),
        row_counts(),
        stock_of(order.shop),
    )


def test_a_shop_ships_only_with_a_carrier_it_is_bound_to():
    order = _confirmed(ShopFactory(carriers=["DHL"]))
    before = _unchanged(order)

    with pytest.raises(CarrierNotBound) as refused:
        _ship(order, carrier="demo-post")

    assert refused.value.status == 400
    assert [(e.attr, e.code) for e in refused.value.errors] == [("carrier", "carrier_not_bound")]
    assert _unchanged(order) == before


def test_the_parcel_keeps_the_carriers_name_as_the_shop_bound_it():
    order = _confirmed(ShopFactory(carriers=["DHL"]))

    shipped = _ship(order, carrier="dhl", number="JD-1")

    assert shipped.carrier == "DHL"
    assert Order.objects.values_list("carrier", flat=True).get(pk=order.pk) == "DHL"


def test_a_tracking_number_on_the_road_is_refused_whatever_the_shop_and_case():
    ours = _ship(_confirmed(ShopFactory()), carrier="demo-post", number="DP-1")
    theirs = _confirmed(ShopFactory())
    before = _unchanged(theirs)

    with pytest.raises(TrackingNumberInUse) as refused:
        _ship(theirs, carrier="DEMO-post", number="DP-1")

    assert (refused.value.status, refused.value.code) == (409, "tracking-number-in-use")
    assert [(e.attr, e.code) for e in refused.value.errors] == [
        ("tracking_number", "tracking_number_in_use")
    ]
    assert _unchanged(theirs) == before
    assert Order.objects.get(pk=ours.pk).tracking_number == "DP-1"


def test_the_same_number_with_another_carrier_is_another_parcel():
    _ship(_confirmed(ShopFactory()), carrier="demo-post", number="X-0001")

    shipped = _ship(_confirmed(ShopFactory()), carrier="DHL", number="X-0001")

    assert (shipped.status, shipped.carrier) == ("shipped", "DHL")


def test_binding_twice_keeps_one_binding_and_unbinding_removes_it():
    shop = ShopFactory(carriers=[])

    first = services.shop_carrier_bind(shop=shop, carrier="demo-post")
    again = services.shop_carrier_bind(shop=shop, carrier="Demo-Post")
    removed = services.shop_carrier_unbind(shop=shop, carrier="DEMO-POST")

    assert again.pk == first.pk
    assert removed == 1
    assert not ShopCarrier.objects.filter(shop=shop).exists()


@pytest.mark.parametrize("name", ["", "demo post", "-post", "p" * 51, "pöst"])
def test_a_name_no_carrier_could_have_is_refused(name):
    shop = ShopFactory(carriers=[])

    with pytest.raises(ValidationError) as refused:
        services.shop_carrier_bind(shop=shop, carrier=name)

    assert list(refused.value.message_dict) == ["carrier"]
    assert not ShopCarrier.objects.exists()


def test_create_shop_binds_the_carriers_it_is_given():
    out = StringIO()

    call_command("create_shop", "Beans", "--carrier", "demo-post", "--carrier", "DHL", stdout=out)

    shop = Shop.objects.get()
    assert sorted(shop.carriers.values_list("carrier", flat=True)) == ["DHL", "demo-post"]
    assert "ships with demo-post, DHL" in out.getvalue()


def test_create_shop_refuses_a_bad_carrier_name_and_writes_nothing():
    with pytest.raises(CommandError, match="carrier"):
        call_command("create_shop", "Beans", "--carrier", "no such", stdout=StringIO())

    assert (Shop.objects.count(), ShopCarrier.objects.count()) == (0, 0)


def test_load_demo_binds_the_demo_shop_to_the_demo_carrier():
    call_command("load_demo", stdout=StringIO())
    call_command("load_demo", stdout=StringIO())

    assert list(ShopCarrier.objects.values_list("shop__slug", "carrier")) == [
        ("demo-coffee", "demo-post")
    ]


def test_the_migration_binds_each_shop_to_the_carriers_it_shipped_with():
    migration = importlib.import_module("orders.migrations.0003_shop_carriers_and_carrier_reports")
    ours, theirs = ShopFactory(), ShopFactory()
    _ship(_confirmed(ours), carrier="DHL", number="JD-1")
    _ship(_confirmed(theirs), carrier="UPS", number="1Z-1")
    Order.objects.filter(shop=theirs).update(carrier="ups")  # a spelling of its own
    ShopCarrier.objects.all().delete()  # as before the migration

    migration.bind_shops_to_the_carriers_they_shipped_with(apps, None)

    assert sorted(ShopCarrier.objects.values_list("shop_id", "carrier")) == sorted(
        [(ours.id, "DHL"), (theirs.id, "ups")]
    )


def test_simulate_refuses_a_shop_that_does_not_ship_with_its_carrier(settings):
    settings.CARRIER_SECRETS = {"demo-post": "s" * 32}
    ShopFactory(slug="beans", carriers=["DHL"])

    with pytest.raises(CommandError, match="'beans' does not ship with 'demo-post'"):
        call_command("simulate", "--shop", "beans", "--duration", "1", stdout=StringIO())


def _without_the_parcel_index() -> None:
    """Drop the index inside the test's transaction (rolled back after), as before 0004.

    The index is on shipments since 0012 (an order's parcels).
    """
    with connection.cursor() as cursor:
        cursor.execute('DROP INDEX "shipment_unique_parcel_on_the_road"')


def test_the_index_migration_stops_on_a_number_on_the_road_twice_and_names_the_orders():
    migration = importlib.import_module("orders.migrations.0004_one_parcel_on_the_road")
    _without_the_parcel_index()
    ours = _ship(_confirmed(ShopFactory()), carrier="demo-post", number="DP-1")
    theirs = _ship(_confirmed(ShopFactory()), carrier="Demo-Post", number="DP-1")

    with pytest.raises(RuntimeError) as stopped:
        migration.refuse_a_tracking_number_on_the_road_twice(apps, None)

    assert "demo-post DP-1: " in str(stopped.value)
    assert f"{ours.number} (shop {ours.shop_id})" in str(stopped.value)
    assert f"{theirs.number} (shop {theirs.shop_id})" in str(stopped.value)


def test_the_index_migration_passes_when_each_number_is_on_the_road_once():
    migration = importlib.import_module("orders.migrations.0004_one_parcel_on_the_road")
    _ship(_confirmed(ShopFactory()), carrier="demo-post", number="DP-1")
    delivered = _ship(_confirmed(ShopFactory()), carrier="demo-post", number="DP-2")
    services.order_deliver(order_id=delivered.pk, shop=None, actor=STAFF)
    _ship(_confirmed(ShopFactory()), carrier="demo-post", number="DP-2")  # reused after delivery

    assert migration.refuse_a_tracking_number_on_the_road_twice(apps, None) is None


def test_a_report_on_a_number_on_the_road_twice_is_refused():
    """Rows from before the index (the takeover itself): no guess between the two."""
    _without_the_parcel_index()
    ours = _ship(_confirmed(ShopFactory()), carrier="demo-post", number="DP-1")
    theirs = _ship(_confirmed(ShopFactory()), carrier="demo-post", number="DP-1")

    with pytest.raises(AmbiguousParcel):
        services.shipment_report(
            carrier="demo-post", event_id="e-1", tracking_number="DP-1", status="delivered"
        )

    assert list(
        Order.objects.filter(pk__in=[ours.pk, theirs.pk]).values_list("status", flat=True)
    ) == ["shipped", "shipped"]
    assert not CarrierReport.objects.exists()
