"""load_demo: one staff user per role (random passwords printed once) and the summary it prints."""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from demo.management.commands.load_demo import DEMO_SHOP_SLUG
from orders.models import ShippingMethod, Shop

pytestmark = pytest.mark.django_db


def _logins(*args) -> dict[str, tuple[str, str]]:
    out = StringIO()
    call_command("load_demo", *args, stdout=out)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Staff logins"))
    rows = [line.split(None, 2) for line in lines[start + 1 : start + 5]]
    return {name: (role, shown) for name, role, shown in rows}


def test_creates_a_superuser_and_one_user_per_role_with_random_passwords():
    logins = _logins()

    assert {name: role for name, (role, _) in logins.items()} == {
        "admin": "superuser",
        "viewer": "viewer",
        "operator": "operator",
        "supervisor": "supervisor",
    }
    users = {user.username: user for user in get_user_model().objects.all()}
    for name, (role, password) in logins.items():
        user = users[name]
        assert user.check_password(password)
        assert len(password) >= 16
        assert not user.check_password(name)
        assert user.is_staff
        assert list(user.groups.values_list("name", flat=True)) == (
            [] if name == "admin" else [role]
        )
    assert len({password for _, password in logins.values()}) == 4


def test_each_demo_user_can_do_what_its_role_allows():
    _logins()
    users = {user.username: user for user in get_user_model().objects.all()}

    assert users["viewer"].has_perm("orderflow.view_staff_pages")
    assert not users["viewer"].has_perm("orderflow.ship_order")
    assert users["operator"].has_perm("orderflow.ship_order")
    assert not users["operator"].has_perm("orderflow.refund_order")
    assert users["supervisor"].has_perm("orderflow.replay_dead_letter")


def test_running_it_again_keeps_every_password_and_prints_none():
    first = _logins()

    again = _logins()

    assert {shown for _, shown in again.values()} == {"(already existed; password unchanged)"}
    for user in get_user_model().objects.all():
        assert user.check_password(first[user.username][1])


def test_a_weak_password_is_refused_when_debug_is_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--password: This password is too short"):
        call_command("load_demo", "--password", "admin", stdout=StringIO())

    assert not get_user_model().objects.exists()


def test_a_chosen_password_is_taken_in_debug(settings):
    settings.DEBUG = True

    logins = _logins("--password", "admin")

    assert logins["admin"] == ("superuser", "admin")


def _output(*args) -> list[str]:
    out = StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue().splitlines()


def test_the_summary_ends_with_the_key_and_a_curl_that_places_an_order(settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8041"

    lines = _output()

    key_line, heading, curl = lines[-3:]
    raw_key = key_line.removeprefix("Demo shop API key: ")
    assert key_line != raw_key
    assert heading == "Place an order:"
    assert curl.startswith(
        f"  curl -s http://127.0.0.1:8041/api/v1/orders -H 'Authorization: Bearer {raw_key}' "
    )
    assert '"lines": [{"sku": "COFFEE-1KG", "quantity": 2}]' in curl
    assert "Idempotency-Key" in curl


def test_the_summary_links_the_board_outbox_inbox_and_docs_at_the_served_address(settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8041"

    lines = _output()

    assert (
        lines[0]
        == "OrderFlow at http://127.0.0.1:8041, demo shop Demo Coffee Roasters (12 products)"
    )
    assert lines[1:6] == [
        "  Board (staff):     http://127.0.0.1:8041/staff/",
        "  Outbox (e-mails):  http://127.0.0.1:8041/staff/outbox/",
        "  Webhook inbox:     http://127.0.0.1:8041/staff/webhook-inbox/",
        "  API docs:          http://127.0.0.1:8041/api/docs/",
        "  Admin:             http://127.0.0.1:8041/admin/",
    ]
    assert not [line for line in lines if ":8000" in line]


def test_base_url_names_another_address_and_says_what_each_role_may_do():
    lines = _output("--base-url", "http://localhost:9000/")

    assert "  Board (staff):     http://localhost:9000/staff/" in lines
    start = lines.index("What each role may do:")
    viewer, operator, supervisor = lines[start + 1 : start + 4]
    assert viewer == "  viewer       view staff pages"
    assert operator.startswith("  operator     as viewer, and: place order, ship order, ")
    assert supervisor.startswith("  supervisor   as operator, and: refund order, ")


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "drf"])
def test_the_summarys_curl_places_an_order_with_tax_and_shipping(settings, lean):
    # the README's tour: the order the printed curl places shows real tax and shipping,
    # without naming a method (the demo shop's default, post by weight)
    settings.ORDER_INTAKE_LEAN = lean
    curl = _output()[-1]
    key = curl.split("Bearer ", 1)[1].split("'", 1)[0]
    body = curl.split("-d '", 1)[1].removesuffix("'")
    assert "shipping_method" not in body

    response = APIClient().post(
        "/api/v1/orders",
        json.loads(body),
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_IDEMPOTENCY_KEY="tour-1",
    )

    assert response.status_code == 201, response.content
    data = response.json()
    # 2 x 24.90 coffee at the reduced 5.5 %: 2.60; 2 000 g by post: 9.00, at 20 %: 1.50
    assert (data["subtotal"], data["shipping_method"], data["shipping_total"]) == (
        "49.80",
        "post",
        "9.00",
    )
    assert (data["tax_total"], data["total"]) == ("4.10", "58.80")


def test_running_it_again_keeps_the_shops_pricing_as_it_was():
    _output()
    shop = Shop.objects.get(slug=DEMO_SHOP_SLUG)
    ShippingMethod.objects.filter(shop=shop, code="courier").update(price=Decimal("20.00"))

    _output()

    assert sorted(shop.shipping_methods.values_list("code", "price", "is_default")) == [
        ("courier", Decimal("20.00"), False),
        ("post", Decimal("0.00"), True),
    ]
    assert list(shop.tax_rates.values_list("tax_class", "country", "rate")) == [
        ("reduced", "", Decimal("0.0550"))
    ]
    shop.refresh_from_db()
    assert shop.tax_rate == Decimal("0.2000")
