"""Every admin list and page of the project costs the same queries for 3 orders or for 9.

A list that named each row's order, shop or endpoint with a query of its own would grow
with the page; a change page that read its inline rows one by one would grow with them.
Each page is measured with a little data and again with three times as much, and must
send exactly as many queries: no N+1 anywhere, whatever admin is added later.
"""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from .conftest import make_orders

pytestmark = pytest.mark.django_db

#: the project's own contexts (Django's and libraries' admins are theirs to keep)
APPS = {"orderflow", "orders", "payments", "tracking", "notifications"}


def _our_admins() -> list[tuple[type, admin.ModelAdmin]]:
    return sorted(
        (
            (model, model_admin)
            for model, model_admin in admin.site._registry.items()
            if model._meta.app_label in APPS
        ),
        key=lambda pair: pair[0]._meta.label,
    )


def _queries(client, url: str) -> int:
    client.get(url)  # once to warm the per-process caches (content types), then measured
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured.captured_queries)


def _pages(order) -> dict[str, str]:
    """Every list (plain, searched by the order's number, filtered to it) and a change page."""
    pages = {}
    for model, model_admin in _our_admins():
        label = f"{model._meta.app_label}_{model._meta.model_name}"
        changelist = reverse(f"admin:{label}_changelist")
        pages[f"{label} list"] = changelist
        if model_admin.get_search_fields(None) or hasattr(model_admin, "order_fields"):
            pages[f"{label} search"] = f"{changelist}?q={order.number}"
        if hasattr(model_admin, "order_fields"):
            pages[f"{label} order"] = f"{changelist}?order={order.pk}"
        first = model_admin.get_queryset(_Request()).order_by("pk").first()
        if first is not None:
            pages[f"{label} page"] = reverse(f"admin:{label}_change", args=[first.pk])
    return pages


class _Request:
    """Enough of a request for ``get_queryset`` (no admin here reads more of it)."""

    user = None


def test_every_admin_page_sends_as_many_queries_for_three_times_the_rows(staff, shop_with_products):
    shop = shop_with_products(name="Café Azul")
    orders = make_orders(shop, 3)
    pages = _pages(orders[0])
    before = {name: _queries(staff, url) for name, url in pages.items()}

    make_orders(shop, 6)
    make_orders(shop_with_products(name="Other Shop"), 3)
    after = {name: _queries(staff, url) for name, url in pages.items()}

    assert after == before
    # and the lists measured hold rows: the same count over no rows would prove nothing
    assert {name for name in pages if name.endswith(" page")} >= {
        "orders_order page",
        "orders_carrierreport page",
        "orders_ordertransition page",
        "payments_payment page",
        "payments_invoice page",
        "notifications_notification page",
        "notifications_webhookdelivery page",
        "notifications_webhookendpoint page",
        "orderflow_outboxevent page",
        "orderflow_delivery page",
        "orderflow_deadletter page",
        "orderflow_parkedevent page",
        "tracking_trackedorder page",
        "tracking_trackingentry page",
    }


def test_a_list_names_its_orders_in_one_query_whatever_the_page_length(staff, shop_with_products):
    shop = shop_with_products()
    make_orders(shop, 2)
    url = reverse("admin:notifications_webhookdelivery_changelist")
    few = _queries(staff, url)
    response = staff.get(url)
    shown = response.context["cl"].result_count

    make_orders(shop, 8)
    many = _queries(staff, url)

    assert staff.get(url).context["cl"].result_count > shown
    assert many == few
