"""The staff board, the order page and the public tracking page, live in a real browser."""

import re

import pytest
from django.db import transaction
from playwright.sync_api import expect

from orders import services
from orders.models import Order
from tests.fixtures import drain_until_settled
from tracking.models import TrackedOrder

from .conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

ORDER = {
    "customer": {"name": "Ana Souza", "email": "ana@example.com"},
    "shipping_address": {
        "line1": "Rua A 1",
        "city": "São Paulo",
        "postal_code": "01000-000",
        "country": "BR",
    },
    "lines": [{"sku": "COFFEE-1KG", "quantity": 2}, {"sku": "MUG-CERAMIC", "quantity": 1}],
    "payment": {"token": "tok_ok"},
}


def test_an_order_appears_on_the_board_and_is_followed_live_to_its_door(
    live_stack, staff, browser, artifacts
):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    board = context.new_page()
    log_in(board, live_stack, staff)
    expect(board.locator("#live-indicator")).to_have_text("Live")
    board.evaluate("window.notReloaded = true")

    # given an order placed through the shops' API
    order = live_stack.api("POST", "orders", ORDER)

    # it appears on the board and reaches confirmed, without a reload
    row = board.locator(f'tr[data-order="{order["id"]}"]')
    expect(row).to_be_visible()
    expect(row.locator(".status")).to_have_text("Confirmed")
    assert board.evaluate("window.notReloaded") is True
    expect(board.locator('[data-count="confirmed"]')).to_have_text("1")
    board.screenshot(path=artifacts / "board.png", full_page=True)

    # the customer opens the public tracking page in a second page
    public = context.new_page()
    public.goto(order["tracking_url"])
    expect(public.locator("#live-indicator")).to_have_text("Live")
    expect(public.locator('[data-live="status_label"]')).to_have_text("Confirmed")
    public.evaluate("window.notReloaded = true")

    # staff open the order and ship it, confirming first
    row.get_by_role("link", name=order["number"]).click()
    expect(board.get_by_role("heading", name=re.compile(order["number"]))).to_be_visible()
    expect(board.locator("#timeline-entries li")).to_have_count(6)  # up to the invoice
    board.get_by_role("link", name="Ship…").click()
    board.get_by_label("Carrier").fill("demo-post")
    board.get_by_label("Tracking number").fill("DP-BROWSER-1")
    board.get_by_role("button", name="Confirm shipment").click()
    expect(board.locator(".messages")).to_contain_text("Shipped with demo-post")

    # the public page follows, live, in the customer's words
    expect(public.locator('[data-live="status_label"]')).to_have_text("On its way")
    expect(public.locator('[data-live="carrier"]')).to_have_text("demo-post")
    expect(public.locator('[data-live="tracking_number"]')).to_have_text("DP-BROWSER-1")

    # the carrier reports the parcel on its way; both pages follow
    live_stack.carrier("DP-BROWSER-1", "in_transit", location="Porto hub")
    live_stack.carrier("DP-BROWSER-1", "out_for_delivery", location="Lisbon")
    expect(public.locator('[data-live="status_label"]')).to_have_text("Out for delivery")
    expect(public.locator("#timeline-entries")).to_contain_text("Porto hub")
    expect(board.locator('[data-live="status_label"]')).to_have_text("Out for delivery")
    expect(board.get_by_role("link", name="Delivered…")).to_be_visible()
    expect(board.get_by_role("link", name="Ship…")).to_be_hidden()
    assert public.evaluate("window.notReloaded") is True

    # nothing private reaches the customer's page
    public_text = public.locator("main").inner_text()
    # (staff-only steps: the capture and the invoice; "Payment received" is the customer's own)
    for private in ("ana@example.com", "Ana Souza", "Rua A 1", "Payment captured", "Invoice"):
        assert private not in public_text

    board.screenshot(path=artifacts / "order.png", full_page=True)
    public.screenshot(path=artifacts / "tracking.png", full_page=True)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    phone.goto(order["tracking_url"])
    expect(phone.locator("#live-indicator")).to_have_text("Live")
    phone.screenshot(path=artifacts / "tracking-phone.png", full_page=True)
    context.close()


def test_the_board_ends_showing_the_database_after_pushes_are_lost(
    web_only, staff, demo_shop, browser, artifacts, settings
):
    page = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
    log_in(page, web_only, staff)
    expect(page.locator("#live-indicator")).to_have_text("Live")
    page.evaluate("window.notReloaded = true")

    # 20 orders change while every push is lost: this process handles their events, and
    # its channel layer reaches no socket
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    staff_actor = services.Actor(kind="staff", name="operator")
    orders = [
        services.order_place(
            shop=demo_shop,
            customer=services.CustomerInput(name=f"Customer {n}", email=f"c{n}@example.com"),
            shipping_address=ORDER["shipping_address"],
            lines=[services.LineInput(sku="COFFEE-1KG", quantity=1)],
            payment_token="tok_declined" if n % 5 == 0 else "tok_ok",
        )
        for n in range(20)
    ]
    drain_until_settled()
    for n, order in enumerate(orders[:12]):
        if n % 5 == 0:
            continue  # declined: cancelled already
        with transaction.atomic():
            if n % 3 == 0:
                services.order_cancel(order_id=order.id, shop=None, actor=staff_actor)
            else:
                services.order_ship(
                    order_id=order.id, shop=None, actor=staff_actor, carrier="demo-post",
                    tracking_number=f"DP-RESYNC-{n}",
                )  # fmt: skip
    drain_until_settled()

    truth = dict(Order.objects.values_list("number", "status"))
    assert set(truth.values()) == {"confirmed", "cancelled", "shipped"}
    assert dict(TrackedOrder.objects.values_list("number", "status")) == truth

    def shown() -> dict[str, str]:
        return dict(
            page.eval_on_selector_all(
                "#board-rows tr",
                "rows => rows.map(r => [r.querySelector('a').textContent, r.dataset.status])",
            )
        )

    expect(page.locator("#board-rows tr")).to_have_count(20)
    for number, status in truth.items():
        expect(page.locator(f'#board-rows tr:has(a:text-is("{number}"))')).to_have_attribute(
            "data-status", status
        )
    assert shown() == truth
    for status in ("confirmed", "cancelled", "shipped"):
        expected = sum(1 for value in truth.values() if value == status)
        expect(page.locator(f'[data-count="{status}"]')).to_have_text(str(expected))
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=artifacts / "board-resynced.png", full_page=True)
