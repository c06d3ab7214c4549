"""Support follows an order to its webhook delivery in the admin, in a real browser, at
desktop and phone width: search the order by number, open it, one click to its webhook
deliveries (that order's only), open one, read its payload and its attempts; an
accessibility scan (axe-core) of each page."""

import json

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.services import webhook_deliveries_drain
from testkit.factories import order_for
from tests.fixtures import drain_until_settled

from .conftest import STAFF_PASSWORD
from .test_accessibility import _violations

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def support(transactional_db):
    return get_user_model().objects.create_superuser(
        username="suzana", email="suzana@example.com", password=STAFF_PASSWORD
    )


@pytest.fixture
def two_orders(demo_shop):
    """Two orders of the shop, sent to its endpoint (which refuses: an attempt is logged)."""
    WebhookEndpoint.objects.create(
        shop_id=demo_shop.pk,
        url="http://127.0.0.1:9/hooks/orders",
        secret="whsec_" + "b" * 32,
        event_types=["order.placed", "order.confirmed"],
    )
    orders = [order_for(demo_shop, email=f"buyer{n}@example.com") for n in (1, 2)]
    drain_until_settled()
    webhook_deliveries_drain(max_seconds=30)
    for order in orders:
        order.refresh_from_db()
    return orders


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_from_an_order_to_its_webhook_delivery(
    web_only, support, two_orders, browser, artifacts, viewport
):
    wanted, other = two_orders
    context = browser.new_context(
        viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone", has_touch=viewport == "phone"
    )
    page = context.new_page()
    page.goto(f"{web_only.base_url}/admin/login/?next=/admin/orders/order/")
    page.get_by_label("Username").fill(support.username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{web_only.base_url}/admin/orders/order/")

    # the order, by its number
    page.locator("#searchbar").fill(wanted.number)
    page.locator("#searchbar").press("Enter")
    page.get_by_role("link", name=wanted.number, exact=True).click()
    expect(page.get_by_role("heading", name="Follow this order")).to_be_visible()
    page.screenshot(path=artifacts / f"admin-order-{viewport}.png", full_page=True)
    found = {"order": _violations(page)}

    # one click to its webhook deliveries, and only its own
    page.get_by_role("link", name="Webhook deliveries to the shop").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(
        WebhookDelivery.objects.filter(payload__data__order_id=str(wanted.pk)).count()
    )
    expect(page.locator("#result_list")).to_contain_text(wanted.number)
    expect(page.locator("#result_list")).not_to_contain_text(other.number)
    expect(page.locator("#changelist-filter")).to_contain_text(wanted.number)
    page.screenshot(path=artifacts / f"admin-order-webhooks-{viewport}.png", full_page=True)
    found["webhook deliveries"] = _violations(page)

    # the confirmation's delivery: its payload as sent, read-only, and the refused attempt
    rows.filter(has_text="order.confirmed").locator("th a").click()
    payload = page.locator("pre.readonly-json")
    expect(payload).to_contain_text('"type": "order.confirmed"')
    expect(payload).to_contain_text(f'"order_id": "{wanted.pk}"')
    expect(page.locator("textarea")).to_have_count(0)
    expect(page.get_by_role("link", name=wanted.number)).to_be_visible()
    expect(page.locator("#log-group")).to_contain_text("loopback")
    page.screenshot(path=artifacts / f"admin-webhook-delivery-{viewport}.png", full_page=True)
    found["webhook delivery"] = _violations(page)

    # and back to the order in one click
    page.get_by_role("link", name=wanted.number).first.click()
    expect(page.get_by_role("heading", name="Follow this order")).to_be_visible()
    context.close()
    assert found == {name: [] for name in found}, json.dumps(found, indent=2)
