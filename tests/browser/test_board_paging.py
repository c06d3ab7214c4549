"""The board for a day's work in a real browser: paging with totals while orders arrive,
search, the filter folded on a phone, and a live page whose session ended — search and the
ended session at 1280x800 and 390x844, each with an axe-core scan and screenshots."""

import json
import re
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone
from playwright.sync_api import expect

from tracking.models import TrackedOrder

from .conftest import STAFF_PASSWORD, log_in
from .test_accessibility import _violations
from .test_live_pages import ORDER

pytestmark = pytest.mark.django_db(transaction=True)

DASH = "\u2013"
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


def seed(shop, count: int, **fields) -> list[TrackedOrder]:
    """Board rows of orders placed over the last day (the board reads only these rows)."""
    start = timezone.now() - timedelta(days=1)
    rows = []
    for n in range(1, count + 1):
        placed_at = start + timedelta(minutes=n)
        values = {
            "order_id": uuid4(),
            "shop_id": shop.id,
            "shop_name": shop.name,
            "number": f"OF-SEED-{n:04d}",
            "customer_name": f"Customer {n}",
            "customer_email": f"c{n}@example.com",
            "total": Decimal("24.90"),
            "currency": "EUR",
            "tracking_token": uuid4().hex,
            "status": "confirmed",
            "sequence": 4,
            "placed_at": placed_at,
            "updated_at": placed_at,
            **(fields if n == count else {}),
        }
        rows.append(TrackedOrder(**values))
    return TrackedOrder.objects.bulk_create(rows)


def first_row_id(page) -> str:
    return page.locator("#board-rows tr").first.get_attribute("data-order")


def test_a_later_page_holds_still_while_orders_arrive_and_page_one_takes_them(
    live_stack, staff, demo_shop, browser, artifacts
):
    seed(demo_shop, 120)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    board = context.new_page()
    log_in(board, live_stack, staff)
    board.goto(f"{live_stack.base_url}/staff/?page=2")
    expect(board.locator("#live-indicator")).to_have_text("Live")
    expect(board.locator("#board-range")).to_have_text(f"Showing 51{DASH}100 of 120 · page 2 of 3")
    expect(board.locator("#board-rows tr")).to_have_count(50)
    shown_before = board.locator("#board-rows tr").evaluate_all(
        "rows => rows.map(r => r.dataset.order)"
    )
    board.evaluate("window.notReloaded = true")

    # when two orders are placed through the shops' API
    placed = [live_stack.api("POST", "orders", ORDER) for _ in range(2)]

    # then page 2 says so, and its rows stay where they were
    expect(board.locator("#board-newer")).to_have_text("2 new orders — back to the newest")
    expect(board.locator('[data-count="confirmed"]')).to_have_text("122")
    expect(board.locator('[data-count=""]')).to_have_text("122")
    expect(board.locator("#board-range")).to_have_text(f"Showing 51{DASH}100 of 120 · page 2 of 3")
    shown_after = board.locator("#board-rows tr").evaluate_all(
        "rows => rows.map(r => r.dataset.order)"
    )
    assert shown_after == shown_before
    assert board.evaluate("window.notReloaded") is True
    board.screenshot(path=artifacts / "board-page-2-new-orders.png", full_page=True)

    # back to the newest: page 1, the new orders first, the total counting them
    board.get_by_role("link", name=re.compile("back to the newest")).click()
    expect(board).to_have_url(f"{live_stack.base_url}/staff/")
    expect(board.locator("#live-indicator")).to_have_text("Live")
    expect(board.locator("#board-range")).to_have_text(f"Showing 1{DASH}50 of 122 · page 1 of 3")
    newest = {row["id"] for row in placed}
    assert set(board.locator("#board-rows tr").evaluate_all(
        "rows => rows.slice(0, 2).map(r => r.dataset.order)"
    )) == newest  # fmt: skip
    expect(board.locator("#board-newer")).to_be_hidden()

    # on page 1 a new order appears at the top, live, and the last row makes room
    board.evaluate("window.notReloaded = true")
    third = live_stack.api("POST", "orders", ORDER)
    expect(board.locator("#board-rows tr").first).to_have_attribute("data-order", third["id"])
    expect(board.locator("#board-rows tr").first.locator(".status")).to_have_text("Confirmed")
    expect(board.locator("#board-rows tr")).to_have_count(50)
    expect(board.locator("#board-range")).to_have_text(f"Showing 1{DASH}50 of 123 · page 1 of 3")
    expect(board.locator('[data-count=""]')).to_have_text("123")
    assert board.evaluate("window.notReloaded") is True

    # the paging links keep the filters and stop at the ends
    board.goto(f"{live_stack.base_url}/staff/?status=confirmed&page=3")
    expect(board.locator("#board-range")).to_have_text(f"Showing 101{DASH}123 of 123 · page 3 of 3")
    paging = board.get_by_role("navigation", name="Board pages")
    expect(paging.get_by_text("Next")).to_have_attribute("aria-disabled", "true")
    expect(paging.get_by_role("link", name="First")).to_have_attribute("href", "?status=confirmed")
    paging.get_by_role("link", name="Previous").click()
    expect(board).to_have_url(f"{live_stack.base_url}/staff/?status=confirmed&page=2")
    expect(board.locator("#board-range")).to_have_text(f"Showing 51{DASH}100 of 123 · page 2 of 3")
    board.screenshot(path=artifacts / "board-paging.png", full_page=True)
    context.close()


def test_search_finds_an_order_by_customer_name_email_number_or_tracking_number(
    web_only, staff, demo_shop, browser, artifacts
):
    seed(demo_shop, 30, customer_name="Beatriz Lima", tracking_number="DPUX00042")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    log_in(page, web_only, staff)
    expect(page.locator("#board-rows tr")).to_have_count(30)

    for typed in ("beatriz l", "C30@EXAMPLE", "of-seed-0030", "dpux0004"):
        page.get_by_label("Search").fill(typed)
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("#board-rows tr")).to_have_count(1)
        row = page.locator("#board-rows tr")
        expect(row).to_contain_text("OF-SEED-0030")
        expect(row).to_contain_text("Beatriz Lima")
        expect(page.locator("#board-range")).to_have_text(f"Showing 1{DASH}1 of 1")
    found = {"found": _violations(page)}

    page.get_by_label("Search").fill("nobody-like-this")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#board-empty")).to_be_visible()
    expect(page.locator("#board-range")).to_have_text("No orders")
    page.screenshot(path=artifacts / "board-search.png", full_page=True)
    found["nothing found"] = _violations(page)
    assert found == {"found": [], "nothing found": []}, json.dumps(found, indent=2)
    context.close()


def test_on_a_phone_the_first_screen_shows_the_tiles_and_orders_and_the_filter_folds(
    web_only, staff, demo_shop, browser, artifacts
):
    seed(demo_shop, 12, customer_name="Beatriz Lima")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    log_in(page, web_only, staff)
    toggle = page.get_by_role("button", name="Filter and search")

    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("search", name="Filter orders")).to_be_hidden()
    first_row = page.locator("#board-rows tr").first
    work_queues = page.get_by_role("navigation", name="Work queues")
    for thing in (work_queues, page.locator("section .counts"), first_row):
        box = thing.bounding_box()
        assert box is not None
        assert box["y"] + min(box["height"], 40) <= PHONE["height"], box  # it starts on screen
    page.screenshot(path=artifacts / "board-phone.png")

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("search", name="Filter orders")).to_be_visible()
    expect(page.get_by_label("Search")).to_be_focused()
    page.get_by_label("Search").fill("beatriz")
    page.get_by_label("Search").press("Enter")
    expect(page).to_have_url(re.compile(r"q=beatriz"))
    expect(page.locator("#board-rows tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Filter and search (1 active)")).to_be_visible()
    expect(page.get_by_role("search", name="Filter orders")).to_be_hidden()
    page.screenshot(path=artifacts / "board-phone-searched.png")
    found = _violations(page)
    assert found == [], json.dumps(found, indent=2)
    context.close()

    # without JavaScript the same page is a plain form and a plain list
    plain = browser.new_context(viewport=PHONE, java_script_enabled=False).new_page()
    log_in(plain, web_only, staff)
    expect(plain.get_by_role("search", name="Filter orders")).to_be_visible()
    expect(plain.locator("#filter-toggle")).to_be_hidden()
    expect(plain.locator("#board-rows tr")).to_have_count(12)
    plain.get_by_label("Search").fill("of-seed-0012")
    plain.get_by_role("button", name="Filter").click()
    expect(plain.locator("#board-rows tr")).to_have_count(1)
    expect(plain.locator("#board-range")).to_have_text(f"Showing 1{DASH}1 of 1")
    plain.context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_live_page_whose_session_ended_says_so_and_offers_to_log_in_again(
    web_only, staff, demo_shop, browser, artifacts, viewport
):
    order = web_only.api("POST", "orders", ORDER)
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=viewport == "phone"
    )
    board = context.new_page()
    log_in(board, web_only, staff)
    board.goto(f"{web_only.base_url}/staff/?status=placed")
    order_page = context.new_page()
    order_page.goto(f"{web_only.base_url}/staff/orders/{order['id']}")
    for page in (board, order_page):
        expect(page.locator("#live-indicator")).to_have_text("Live")

    # logged out in another tab
    other_tab = context.new_page()
    other_tab.goto(f"{web_only.base_url}/staff/")
    other_tab.get_by_role("button", name="Log out").click()

    for page in (board, order_page):
        expect(page.locator("#live-indicator")).to_have_text("Session ended")
        expect(page.get_by_role("alert")).to_contain_text("Your session has ended")
    login = board.get_by_role("link", name="Log in again")
    expect(login).to_have_attribute("href", "/admin/login/?next=%2Fstaff%2F%3Fstatus%3Dplaced")
    board.screenshot(path=artifacts / f"board-session-ended-{viewport}.png", full_page=True)
    order_page.screenshot(path=artifacts / f"order-session-ended-{viewport}.png", full_page=True)
    found = {"board": _violations(board), "order page": _violations(order_page)}
    assert found == {"board": [], "order page": []}, json.dumps(found, indent=2)

    # logging in again leads back to the same board, live
    login.click()
    board.get_by_label("Username").fill(staff.username)
    board.get_by_label("Password").fill(STAFF_PASSWORD)
    board.get_by_role("button", name="Log in").click()
    expect(board).to_have_url(f"{web_only.base_url}/staff/?status=placed")
    expect(board.locator("#live-indicator")).to_have_text("Live")
    expect(board.get_by_role("alert")).to_have_count(0)

    # a session that expires (no logout at all) ends the page at its next heartbeat
    Session.objects.all().delete()
    expect(board.locator("#live-indicator")).to_have_text("Session ended")
    expect(board.get_by_role("link", name="Log in again")).to_be_visible()
    context.close()
