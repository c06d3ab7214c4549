import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from orderflow.models import OutboxEvent
from orders import services
from orders.models import Order, OrderTransition, Product, ShopAPIKey
from testkit.factories import advance, order_for, order_in

from .assertions import stock_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("model", ["shop", "shopapikey", "product", "order"])
def test_changelists_render(staff, shop, products, model):
    order_for(shop)
    ShopAPIKey.objects.create_key(shop=shop, name="ops")

    response = staff.get(f"/admin/orders/{model}/")

    assert response.status_code == 200


def test_change_pages_render(staff, shop, products):
    order = order_for(shop, lines={"COFFEE-1KG": 1, "MUG": 2})
    api_key, _ = ShopAPIKey.objects.create_key(shop=shop, name="ops")

    pages = [
        f"/admin/orders/shop/{shop.pk}/change/",
        f"/admin/orders/shopapikey/{api_key.pk}/change/",
        f"/admin/orders/product/{products['MUG'].pk}/change/",
        f"/admin/orders/order/{order.pk}/change/",
    ]

    assert [staff.get(page).status_code for page in pages] == [200, 200, 200, 200]
    order_page = staff.get(pages[-1]).content.decode()
    assert order.number in order_page
    assert "MUG" in order_page


@pytest.mark.parametrize("term", ["number", "email"])
def test_finds_an_order_by_number_or_email(staff, shop, products, term):
    wanted = order_for(shop, email="wanted@example.com")
    other = order_for(shop, email="someone@example.com")
    query = wanted.number if term == "number" else "WANTED@example.com"

    response = staff.get("/admin/orders/order/", {"q": query})

    assert response.status_code == 200
    assert [o.pk for o in response.context["cl"].result_list] == [wanted.pk]
    assert other.number not in response.content.decode()


def test_finds_an_order_by_the_shops_reference(staff, shop, products):
    wanted = order_for(shop, external_reference="chk_8812")
    order_for(shop, external_reference="chk_9999")

    response = staff.get("/admin/orders/order/", {"q": "chk_8812"})

    assert response.status_code == 200
    assert [o.pk for o in response.context["cl"].result_list] == [wanted.pk]


def test_shows_the_shops_data_read_only(staff, shop, products):
    order = order_for(shop, external_reference="chk_8812", metadata={"channel": "web-ç"})
    lines = list(order.lines.all())

    page = staff.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    response = staff.post(
        f"/admin/orders/order/{order.pk}/change/",
        {
            "name": order.customer_name,
            "email": order.customer_email,
            **order.shipping_address,
            "metadata": '{"channel": "forged"}',
            "external_reference": "forged",
            "lines-TOTAL_FORMS": str(len(lines)),
            "lines-INITIAL_FORMS": str(len(lines)),
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
            "shipments-TOTAL_FORMS": "0",
            "shipments-INITIAL_FORMS": "0",
            **{f"lines-{i}-id": str(line.pk) for i, line in enumerate(lines)},
            **{f"lines-{i}-order": str(order.pk) for i in range(len(lines))},
        },
    )

    assert "chk_8812" in page
    assert "web-ç" in page
    assert 'name="metadata"' not in page
    assert 'name="external_reference"' not in page
    assert response.status_code == 302, response.content.decode()[:2000]
    order.refresh_from_db()
    assert (order.external_reference, order.metadata) == ("chk_8812", {"channel": "web-ç"})


def test_order_status_cannot_be_edited(staff, shop, products):
    order = order_for(shop)
    lines = list(order.lines.all())
    form = {
        "name": "Ana S. Souza",
        "email": "ana@example.com",
        **order.shipping_address,
        "status": "delivered",
        "total": "0.01",
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": str(len(lines)),
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "shipments-TOTAL_FORMS": "0",
        "shipments-INITIAL_FORMS": "0",
        **{f"lines-{i}-id": str(line.pk) for i, line in enumerate(lines)},
        **{f"lines-{i}-order": str(order.pk) for i in range(len(lines))},
    }

    response = staff.post(f"/admin/orders/order/{order.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    order.refresh_from_db()
    assert (order.customer_name, order.status, order.version, str(order.total)) == (
        "Ana S. Souza",
        "placed",
        1,
        "24.90",
    )
    assert list(
        OutboxEvent.objects.filter(aggregate_id=str(order.pk)).values_list("type", flat=True)
    ) == ["order.placed", "order.customer_changed"]


def test_orders_cannot_be_added_or_deleted_by_hand(staff, shop, products):
    order = order_for(shop)

    add = staff.get("/admin/orders/order/add/")
    delete = staff.post(f"/admin/orders/order/{order.pk}/delete/", {"post": "yes"})

    assert (add.status_code, delete.status_code) == (403, 403)
    assert Order.objects.filter(pk=order.pk).exists()


def test_cancel_action_cancels_a_placed_order_and_refuses_a_shipped_one(staff, shop, products):
    placed = order_for(shop)
    shipped = advance(order_for(shop), to="shipped")

    response = staff.post(
        "/admin/orders/order/",
        {"action": "cancel_orders", "_selected_action": [str(placed.pk), str(shipped.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    placed.refresh_from_db()
    shipped.refresh_from_db()
    assert (placed.status, placed.status_reason) == ("cancelled", "admin")
    assert shipped.status == "shipped"
    cancelled = OutboxEvent.objects.get(type="order.cancelled")
    assert cancelled.aggregate_id == str(placed.pk)
    assert cancelled.data["cancelled_by"] == "staff:admin"
    assert _messages(response) == [
        "Cancelled 1 order(s).",
        f"{shipped.number}: The order is shipped; it cannot become cancelled.",
    ]


def test_cancel_action_releases_the_stock_and_records_the_staff_member(staff, shop, products):
    reserved = order_in(shop, "confirmed", lines={"COFFEE-1KG": 2, "MUG": 1})

    response = staff.post(
        "/admin/orders/order/",
        {"action": "cancel_orders", "_selected_action": [str(reserved.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    assert _messages(response) == ["Cancelled 1 order(s)."]
    assert stock_of(shop) == {"COFFEE-1KG": (50, 0), "MUG": (20, 0), "FILTER": (1000, 0)}
    transition = OrderTransition.objects.filter(order=reserved).latest("id")
    assert (transition.from_status, transition.to_status, transition.actor, transition.reason) == (
        "confirmed",
        "cancelled",
        "staff:admin",
        "admin",
    )


def test_cancel_action_works_for_a_staff_member_with_the_longest_username(
    client, django_user_model, shop, products
):
    username = "u" * 150
    client.force_login(
        django_user_model.objects.create_superuser(username, "long@example.com", "pw-long-1")
    )
    order = order_for(shop)

    response = client.post(
        "/admin/orders/order/",
        {"action": "cancel_orders", "_selected_action": [str(order.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert OutboxEvent.objects.get(type="order.cancelled").data["cancelled_by"] == (
        f"staff:{username}"
    )
    assert OrderTransition.objects.get(order=order).actor == f"staff:{username}"[:100]


def test_adding_a_key_shows_it_once_and_it_works(staff, shop, products):
    response = staff.post(
        "/admin/orders/shopapikey/add/", {"shop": shop.pk, "name": "warehouse"}, follow=True
    )

    assert response.status_code == 200
    api_key = ShopAPIKey.objects.get(shop=shop)
    (shown,) = [m for m in _messages(response) if "The new API key is" in m]
    raw_key = shown.split("<code>")[1].split("</code>")[0]
    assert raw_key.startswith(f"{api_key.prefix}.")
    assert api_key.name == "warehouse"
    assert (
        raw_key not in staff.get(f"/admin/orders/shopapikey/{api_key.pk}/change/").content.decode()
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get("/api/v1/products").status_code == 200


def test_revoke_action_makes_a_key_unusable(staff, shop, products):
    api_key, raw_key = ShopAPIKey.objects.create_key(shop=shop, name="ops")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get("/api/v1/products").status_code == 200

    response = staff.post(
        "/admin/orders/shopapikey/",
        {"action": "revoke_keys", "_selected_action": [api_key.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Revoked 1 key(s)." in _messages(response)
    api_key.refresh_from_db()
    assert api_key.revoked is True
    refused = client.get("/api/v1/products")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer realm="orderflow"'


@pytest.mark.parametrize(
    ("reserved", "on_hand", "error"),
    [
        (8, "7", "Must be at least 8: units are reserved for open orders."),
        (0, "-1", "Must not be negative."),
    ],
)
def test_refuses_stock_below_what_is_reserved(staff, shop, products, reserved, on_hand, error):
    mug = products["MUG"]
    Product.objects.filter(pk=mug.pk).update(reserved=reserved)

    response = staff.post(
        f"/admin/orders/product/{mug.pk}/change/",
        {
            "shop": shop.pk,
            "sku": "MUG",
            "name": mug.name,
            "price": "9.90",
            "currency": "EUR",
            "on_hand": on_hand,
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"on_hand": [error]}
    mug.refresh_from_db()
    assert (mug.on_hand, mug.reserved) == (20, reserved)


def test_refuses_stock_below_what_is_reserved_in_the_product_list(staff, shop, products):
    mug = products["MUG"]
    Product.objects.filter(pk=mug.pk).update(reserved=8)
    rows = list(Product.objects.order_by("sku"))
    form = {
        "form-TOTAL_FORMS": str(len(rows)),
        "form-INITIAL_FORMS": str(len(rows)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, product in enumerate(rows):
        form[f"form-{i}-id"] = str(product.pk)
        form[f"form-{i}-on_hand"] = "7" if product.sku == "MUG" else str(product.on_hand)

    response = staff.post("/admin/orders/product/", form)

    assert response.status_code == 200
    assert "Must be at least 8" in response.content.decode()
    mug.refresh_from_db()
    assert (mug.on_hand, mug.reserved) == (20, 8)


def test_changes_stock_down_to_what_is_reserved(staff, shop, products):
    mug = products["MUG"]
    Product.objects.filter(pk=mug.pk).update(reserved=8)

    response = staff.post(
        f"/admin/orders/product/{mug.pk}/change/",
        {
            "shop": shop.pk,
            "sku": "MUG",
            "name": mug.name,
            "price": "9.90",
            "currency": "EUR",
            "on_hand": "8",
        },
    )

    assert response.status_code == 302
    mug.refresh_from_db()
    assert (mug.on_hand, mug.reserved) == (8, 8)


def test_api_keys_have_one_section_in_the_admin(staff):
    index = staff.get("/admin/").content.decode()

    assert index.count("API keys") == 1  # "Shop API keys", under Orders
    assert "/admin/rest_framework_api_key/" not in index
    assert staff.get("/admin/rest_framework_api_key/apikey/").status_code == 404


def test_a_key_is_revoked_from_its_page_and_never_deleted(staff, shop, products):
    api_key, raw_key = ShopAPIKey.objects.create_key(shop=shop, name="ops")
    url = f"/admin/orders/shopapikey/{api_key.pk}/change/"

    page = staff.get(url).content.decode()
    delete = staff.post(f"/admin/orders/shopapikey/{api_key.pk}/delete/", {"post": "yes"})
    revoked = staff.post(
        url, {"name": "ops", "expiry_date_0": "", "expiry_date_1": "", "_revoke": "1"}, follow=True
    )

    assert 'name="_revoke"' in page
    assert "deletelink" not in page
    assert delete.status_code == 403
    assert f"Revoked ops ({api_key.prefix}…): it no longer opens the API." in _messages(revoked)
    api_key.refresh_from_db()
    assert api_key.revoked is True
    assert 'name="_revoke"' not in staff.get(url).content.decode()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get("/api/v1/products").status_code == 401


def test_the_order_page_lists_its_parcels_read_only_in_fixed_queries(staff, shop, products):
    order = order_in(shop, "confirmed", lines={"COFFEE-1KG": 2, "MUG": 1, "FILTER": 1})
    actor = services.Actor(kind="staff", name="ana")
    url = f"/admin/orders/order/{order.pk}/change/"

    def ship(number, **lines):
        services.shipment_create(
            order_id=order.pk,
            shop=None,
            actor=actor,
            carrier="DHL",
            tracking_number=number,
            lines=[services.ShipmentLineInput(sku=s, quantity=n) for s, n in lines.items()],
        )

    ship("JD0001", MUG=1)
    staff.get(url)
    with CaptureQueriesContext(connection) as one:
        page = staff.get(url).content.decode()
    ship("JD0002", FILTER=1)
    ship("JD0003", **{"COFFEE-1KG": 2})
    with CaptureQueriesContext(connection) as three:
        pages = staff.get(url).content.decode()

    assert "1 x MUG" in page
    assert "JD0003" in pages
    assert "2 x COFFEE-1KG" in pages
    assert 'name="shipments-0-tracking_number"' not in pages  # nothing editable
    assert len(three) == len(one)


def test_the_order_pages_parcels_read_in_the_staff_members_language(staff, shop, products):
    order = order_in(shop, "confirmed", lines={"COFFEE-1KG": 2, "MUG": 1})
    services.shipment_create(
        order_id=order.pk,
        shop=None,
        actor=services.Actor(kind="staff", name="ana"),
        carrier="DHL",
        tracking_number="JD0001",
        lines=[services.ShipmentLineInput(sku="MUG", quantity=1)],
    )
    url = f"/admin/orders/order/{order.pk}/change/"

    portuguese = staff.get(url, HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    english = staff.get(url).content.decode()

    for words in ("Pacotes", "Enviado em", "Código de rastreio", "Conteúdo", "Em trânsito"):
        assert words in portuguese
    for words in ("Parcels", "Shipped at", "Tracking number", "Contents", "In transit"):
        assert words in english
    assert "In transit" not in portuguese
