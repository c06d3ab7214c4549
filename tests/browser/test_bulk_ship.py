"""Bulk work in a real browser, at desktop and phone width: from the board to shipping two
orders from a pasted CSV (preview with a row's error, ship, the result and its report), the
board's CSV export, and orders chosen on a page and shipped; an accessibility scan of each
step."""

import json

import pytest
from playwright.sync_api import expect

from orders.models import Order
from testkit.factories import order_for
from tests.fixtures import drain_until_settled

from .conftest import log_in
from .test_accessibility import _violations

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_ship_two_orders_from_a_csv(web_only, staff, demo_shop, browser, artifacts, viewport):
    first, second = (order_for(demo_shop, email=f"b{n}@example.com") for n in (1, 2))
    drain_until_settled()  # confirmed: ready to ship
    csv_text = (
        "order_number,carrier,tracking_number\n"
        f"{first.number},demo-post,DP{viewport.upper()}0001\n"
        f"{second.number},demo-post,DP{viewport.upper()}0002\n"
        "OF-NOTHERE,demo-post,DP00000003\n"
    )
    phone = viewport == "phone"
    page = browser.new_context(
        viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone
    ).new_page()
    log_in(page, web_only, staff)
    found = {}

    page.get_by_role("link", name="Ship from a CSV").click()
    expect(page.get_by_role("heading", name="Ship from a CSV")).to_be_visible()
    found["form"] = _violations(page)
    page.get_by_label("Or paste the rows").fill(csv_text)
    page.get_by_role("button", name="Preview").click()

    expect(
        page.get_by_role("heading", name="Preview: 2 ready to ship, 1 with an error")
    ).to_be_visible()
    expect(page.locator("#bulk-rows")).to_contain_text("No order OF-NOTHERE.")
    assert Order.objects.get(pk=first.pk).status == "confirmed"  # a preview changes nothing
    found["preview"] = _violations(page)
    page.screenshot(path=artifacts / f"bulk-ship-preview-{viewport}.png", full_page=True)

    page.get_by_role("button", name="Ship 2 orders").click()
    expect(page.get_by_role("heading", name="Result: 2 shipped, 1 not shipped")).to_be_visible()
    expect(page.get_by_role("link", name="Download the report (CSV)")).to_be_visible()
    found["result"] = _violations(page)
    page.screenshot(path=artifacts / f"bulk-ship-result-{viewport}.png", full_page=True)
    assert {o.status for o in Order.objects.filter(pk__in=[first.pk, second.pk])} == {"shipped"}

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the report (CSV)").click()
    report = download.value.path().read_text()
    assert f"{first.number},demo-post,DP{viewport.upper()}0001,shipped" in report
    assert "OF-NOTHERE,demo-post,DP00000003,No order OF-NOTHERE." in report

    drain_until_settled()  # the board's rows follow the shipments (no worker runs here)
    page.goto(f"{web_only.base_url}/staff/?status=shipped")
    with page.expect_download() as export:
        page.get_by_role("link", name="Download CSV").click()
    lines = export.value.path().read_text().splitlines()
    assert lines[0].startswith("order_number,shop,status")
    assert len(lines) == 1 + 2

    assert found == {step: [] for step in found}, json.dumps(found, indent=2)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_choose_orders_on_a_page_and_ship_them(
    web_only, staff, demo_shop, browser, artifacts, viewport
):
    chosen, left = (order_for(demo_shop, email=f"c{n}@example.com") for n in (1, 2))
    drain_until_settled()
    phone = viewport == "phone"
    page = browser.new_context(
        viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone
    ).new_page()
    log_in(page, web_only, staff)

    page.get_by_role("link", name="Choose orders to ship").click()
    expect(page.get_by_role("heading", name="Choose orders to ship")).to_be_visible()
    page.get_by_label(f"Ship {chosen.number}").check()
    page.get_by_label(f"Carrier of {chosen.number}").select_option("demo-post")
    page.get_by_label(f"Tracking number of {chosen.number}").fill(f"DPSEL{viewport.upper()}1")
    found = {"choose": _violations(page)}
    page.screenshot(path=artifacts / f"select-ship-{viewport}.png", full_page=True)
    page.get_by_role("button", name="Preview").click()

    expect(
        page.get_by_role("heading", name="Preview: 1 ready to ship, 0 with an error")
    ).to_be_visible()
    page.get_by_role("button", name="Ship 1 order").click()
    expect(page.get_by_role("heading", name="Result: 1 shipped, 0 not shipped")).to_be_visible()
    assert Order.objects.get(pk=chosen.pk).status == "shipped"
    assert Order.objects.get(pk=left.pk).status == "confirmed"
    assert found == {"choose": []}, json.dumps(found, indent=2)
