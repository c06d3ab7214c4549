from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from demo.management.commands.load_demo import DEMO_PRODUCTS, DEMO_SHOP_SLUG
from orders.choices import OrderStatus
from orders.models import Order, Product, Shop, ShopAPIKey
from orders.services.dispatch import ShipmentLineInput, shipment_create
from testkit.factories import STAFF, order_in

pytestmark = pytest.mark.django_db


def _run(*args, **options) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue().splitlines()


def _client(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def test_create_shop_prints_a_working_key_alone_on_the_last_line():
    lines = _run("create_shop", "Beans & Co", "--currency", "usd", "--email", "ops@beans.test")

    raw_key = lines[-1]
    shop = Shop.objects.get()
    assert (shop.name, shop.slug, shop.currency, shop.contact_email) == (
        "Beans & Co",
        "beans-co",
        "USD",
        "ops@beans.test",
    )
    api_key = ShopAPIKey.objects.get()
    assert (api_key.shop_id, api_key.name) == (shop.id, "default")
    assert raw_key == raw_key.strip()
    assert raw_key.startswith(f"{api_key.prefix}.")
    created = _client(raw_key).post(
        "/api/v1/products", {"sku": "BEANS", "name": "Beans", "price": "5.00"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert Product.objects.get().shop_id == shop.id


def test_create_shop_gives_a_taken_slug_a_suffix():
    _run("create_shop", "Beans")

    lines = _run("create_shop", "Beans")

    assert sorted(Shop.objects.values_list("slug", flat=True)) == ["beans", "beans-2"]
    assert _client(lines[-1]).get("/api/v1/products").status_code == 200


def test_create_shop_refuses_an_invalid_currency_and_writes_nothing():
    with pytest.raises(CommandError, match="currency"):
        _run("create_shop", "Beans", "--currency", "EURO")

    assert (Shop.objects.count(), ShopAPIKey.objects.count()) == (0, 0)


def test_load_demo_creates_a_shop_its_catalog_and_a_superuser():
    lines = _run("load_demo")

    shop = Shop.objects.get()
    assert shop.slug == DEMO_SHOP_SLUG
    assert Product.objects.filter(shop=shop).count() == 12
    assert sorted(Product.objects.values_list("sku", flat=True)) == sorted(
        sku for sku, *_ in DEMO_PRODUCTS
    )
    user = get_user_model().objects.get(username="admin")
    assert (user.username, user.is_superuser, user.is_staff) == ("admin", True, True)
    assert not user.check_password("admin")  # a random password, printed once
    (key_line,) = [line for line in lines if line.startswith("Demo shop API key: ")]
    raw_key = key_line.removeprefix("Demo shop API key: ")
    listed = _client(raw_key).get("/api/v1/products", {"limit": 100})
    assert len(listed.json()["results"]) == 12


def test_load_demo_is_safe_to_run_twice():
    _run("load_demo")
    get_user_model().objects.filter(username="admin").update(first_name="kept")
    Product.objects.filter(sku="MUG-CERAMIC").update(on_hand=7)

    lines = _run("load_demo")

    assert Shop.objects.count() == 1
    assert Product.objects.count() == 12
    assert Product.objects.get(sku="MUG-CERAMIC").on_hand == 7
    assert get_user_model().objects.get(username="admin").first_name == "kept"
    assert "  admin        superuser   (already existed; password unchanged)" in lines
    assert ShopAPIKey.objects.count() == 2


def test_load_demo_tops_up_a_missing_product():
    _run("load_demo")
    Product.objects.filter(sku="KETTLE-GOOSE").delete()

    _run("load_demo")

    assert Product.objects.count() == 12


# --- reconcile_stock ---
def _reserved_drift(shop):
    """A shop whose MUG holds 2 units for a confirmed order but records 5."""
    order_in(shop, "confirmed", lines={"MUG": 2})
    Product.objects.filter(shop=shop, sku="MUG").update(reserved=5)


def test_reconcile_stock_says_so_when_there_is_no_drift(shop, products):
    order_in(shop, "confirmed", lines={"MUG": 2})

    assert _run("reconcile_stock") == ["No drift: reserved stock matches open orders."]
    assert _run("reconcile_stock", "--fix") == ["No drift: reserved stock matches open orders."]
    assert Product.objects.get(shop=shop, sku="MUG").reserved == 2


def test_reconcile_stock_reports_drift_and_changes_nothing(shop, products):
    _reserved_drift(shop)

    lines = _run("reconcile_stock")

    assert lines == [
        f"{shop.slug}\tMUG\treserved 5\topen orders hold 2\t(-3)",
        "Found drift on 1 product(s).",
        "Run again with --fix to repair.",
    ]
    assert Product.objects.get(shop=shop, sku="MUG").reserved == 5


def test_reconcile_stock_fix_repairs_the_drift(shop, products):
    _reserved_drift(shop)

    lines = _run("reconcile_stock", "--fix")

    assert lines == [
        f"{shop.slug}\tMUG\treserved 5\topen orders hold 2\t(-3)",
        "Fixed drift on 1 product(s).",
    ]
    assert Product.objects.get(shop=shop, sku="MUG").reserved == 2
    assert _run("reconcile_stock") == ["No drift: reserved stock matches open orders."]


def test_reconcile_stock_looks_at_one_shop_when_asked(shop, other_shop, products):
    _reserved_drift(shop)

    assert _run("reconcile_stock", "--shop", other_shop.slug) == [
        "No drift: reserved stock matches open orders."
    ]
    assert Product.objects.get(shop=shop, sku="MUG").reserved == 5


def test_a_partly_shipped_order_holds_its_units_not_yet_in_a_parcel(shop, products):
    """Reserved counts the units still to ship: --fix must not free them (nor keep the
    shipped ones, which left on hand as they went)."""
    order = order_in(shop, "confirmed", lines={"MUG": 3})
    shipment_create(
        order_id=order.pk,
        shop=None,
        actor=STAFF,
        carrier="DHL",
        tracking_number="JD1",
        lines=[ShipmentLineInput("MUG", 1)],
    )
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PARTIALLY_SHIPPED
    assert Product.objects.get(shop=shop, sku="MUG").reserved == 2

    assert _run("reconcile_stock", "--fix") == ["No drift: reserved stock matches open orders."]
    assert Product.objects.get(shop=shop, sku="MUG").reserved == 2

    Product.objects.filter(shop=shop, sku="MUG").update(reserved=3)
    assert _run("reconcile_stock")[0] == f"{shop.slug}\tMUG\treserved 3\topen orders hold 2\t(-1)"
