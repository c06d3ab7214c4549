"""The board's work queues in a real browser, at desktop and phone width: each queue a page
of its own from the board's navigation, with its count live while the shops' API and the
carrier move orders in and out of it, the stuck work count from the heartbeat, a queue's
CSV export and the stuck work's (failed event handling's dead letters), screenshots and an
axe-core scan of each queue's page."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from orderflow.models import Delivery, DeliveryStatus
from tracking.models import TrackedOrder

from .conftest import CARRIER, log_in
from .test_accessibility import _violations
from .test_board_paging import seed
from .test_live_pages import ORDER

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
PAYMENT_FAILED = {
    "cause": "payment",
    "reason": "Card declined",
    "short_items": [],
    "charged": False,
}


def count(page, slug: str):
    return page.locator(f'[data-queue-count="{slug}"]')


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_each_queue_is_a_page_with_a_live_count(
    live_stack, staff, demo_shop, browser, artifacts, viewport
):
    seed(demo_shop, 3)  # confirmed: to ship
    (failed,) = seed(demo_shop, 1, status="shipped", delivery_issue="delivery_failed")
    (declined,) = seed(demo_shop, 1, status="cancelled", outcome=PAYMENT_FAILED)
    (returning,) = seed(
        demo_shop,
        1,
        status="delivered",
        return_status="requested",
        returns=[{"number": 1, "status": "requested", "lines": []}],
        open_returns=1,
    )
    TrackedOrder.objects.filter(pk=failed.pk).update(number="OF-SEED-FAILED")
    TrackedOrder.objects.filter(pk=declined.pk).update(number="OF-SEED-DECLINED")
    TrackedOrder.objects.filter(pk=returning.pk).update(number="OF-SEED-RETURN")
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        is_mobile=viewport == "phone",
        accept_downloads=True,
    )
    page = context.new_page()
    log_in(page, live_stack, staff)
    expect(page.locator("#live-indicator")).to_have_text("Live")
    queues = page.get_by_role("navigation", name="Work queues")
    expected = {
        "to-ship": "3",
        "delivery-exceptions": "1",
        "payment-failed": "1",
        "returns": "1",
        "stuck": "0",
    }
    for slug, n in expected.items():
        expect(count(page, slug)).to_have_text(n)

    # each queue of orders is a page of its own, a URL to bookmark
    found = {}
    for name, slug, rows in (
        ("Delivery exceptions", "delivery-exceptions", 1),
        ("Payment failed", "payment-failed", 1),
        ("Returns to process", "returns", 1),
        ("To ship", "to-ship", 3),
    ):
        queues.get_by_role("link", name=re.compile(name)).click()
        expect(page).to_have_url(f"{live_stack.base_url}/staff/?queue={slug}")
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        expect(page.locator("#live-indicator")).to_have_text("Live")
        expect(page.locator("#board-rows tr")).to_have_count(rows)
        expect(queues.locator(f'[data-queue="{slug}"]')).to_have_attribute("aria-current", "page")
        page.screenshot(path=artifacts / f"board-queue-{slug}-{viewport}.png", full_page=True)
        found[slug] = _violations(page)
    assert found == {slug: [] for slug in found}, json.dumps(found, indent=2)
    # the returns queue lists each open return under its order (board.js draws the rows)
    page.goto(f"{live_stack.base_url}/staff/?queue=returns")
    expect(page.locator("#live-indicator")).to_have_text("Live")
    expect(page.locator('#board-rows tr .return[data-return="1"]')).to_have_text(
        "R1 \u00b7 Return requested"
    )
    page.goto(f"{live_stack.base_url}/staff/?queue=to-ship")
    expect(page.locator("#live-indicator")).to_have_text("Live")
    expect(page.locator("#board-rows tr", has_text="Delivery attempt failed")).to_have_count(0)

    # on the "to ship" page: an order the shop places arrives; shipped, it leaves
    page.evaluate("window.notReloaded = true")
    order = live_stack.api("POST", "orders", ORDER)
    row = page.locator(f'#board-rows tr[data-order="{order["id"]}"]')
    expect(row).to_have_count(1)
    expect(count(page, "to-ship")).to_have_text("4")
    live_stack.api(
        "POST", f"orders/{order['id']}/ship", {"carrier": CARRIER, "tracking_number": "DPQ0001"}
    )
    expect(row).to_have_count(0)
    expect(count(page, "to-ship")).to_have_text("3")
    expect(page.locator("#board-range")).to_have_text("Showing 1\u20133 of 3")

    # the carrier cannot deliver it: a delivery exception, counted on the open page
    live_stack.carrier("DPQ0001", "delivery_failed", location="Lisboa", note="Nobody home")
    expect(count(page, "delivery-exceptions")).to_have_text("2")
    # a handling that failed for good is stuck work: no push tells it, the heartbeat does
    delivery = Delivery.objects.filter(event__aggregate_id=order["id"]).first()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DEAD, dead_at=timezone.now()
    )
    expect(count(page, "stuck")).to_have_text("1")
    assert page.evaluate("window.notReloaded") is True

    # the delivery exceptions page lists it with the carrier's words; its CSV holds it
    queues.get_by_role("link", name=re.compile("Delivery exceptions")).click()
    expect(page.locator("#board-rows tr")).to_have_count(2)
    expect(page.locator(f'#board-rows tr[data-order="{order["id"]}"]')).to_contain_text(
        "Delivery attempt failed"
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("orders-delivery-exceptions-")
    exported = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted(line[0] for line in exported[1:]) == sorted([order["number"], "OF-SEED-FAILED"])

    # stuck work is handled in failed event handling; its CSV holds the dead letter
    queues.get_by_role("link", name=re.compile("Stuck work")).click()
    expect(page).to_have_url(f"{live_stack.base_url}/staff/failed-events")
    expect(page.get_by_role("heading", level=1)).to_have_text("Failed event handling")
    page.screenshot(path=artifacts / f"board-queue-stuck-{viewport}.png", full_page=True)
    stuck_violations = _violations(page)
    assert stuck_violations == [], json.dumps(stuck_violations, indent=2)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("failed-events-")
    exported = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(line[0], line[3], line[5]) for line in exported[1:]] == [
        (str(delivery.pk), delivery.subscriber, order["number"])
    ]
    context.close()
