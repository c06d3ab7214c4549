"""The staff order page for a day's work, in a real browser: every block follows the order
live while the shops' API and the carrier change it, and staff edit the address, write a
note and resend an e-mail — at desktop and phone width, with screenshots and an axe-core
scan of the page after it all."""

import json
import re

import pytest
from playwright.sync_api import expect

from devtools.processes import wait_until
from notifications.models import Notification

from .conftest import CARRIER, log_in
from .test_accessibility import _violations

pytestmark = pytest.mark.django_db(transaction=True)

ORDER = {
    "customer": {"name": "Ana Souza", "email": "ana@example.com"},
    "shipping_address": {
        "line1": "Rua A 1",
        "city": "São Paulo",
        "postal_code": "01000-000",
        "country": "BR",
    },
    "lines": [{"sku": "COFFEE-1KG", "quantity": 1}],
    "payment": {"token": "tok_ok"},
}

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


def open_settled(page, url: str) -> None:
    """Open the order page and wait until its blocks were fetched once after the socket's
    snapshot: a button clicked before that may be swapped out from under the click."""
    page.goto(url)
    expect(page.locator("#live-indicator")).to_have_text("Live")
    expect(page.locator("body[data-blocks-fetched]")).to_have_count(1)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_order_page_follows_the_order_and_serves_a_days_work(
    live_stack, staff, browser, artifacts, viewport
):
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=viewport == "phone"
    )
    watcher = context.new_page()  # an open order page that is never reloaded
    log_in(watcher, live_stack, staff)
    earlier = live_stack.api("POST", "orders", ORDER)  # the customer's other order
    order = live_stack.api("POST", "orders", ORDER)
    url = f"{live_stack.base_url}/staff/orders/{order['id']}"
    watcher.goto(url)
    expect(watcher.locator("#live-indicator")).to_have_text("Live")
    expect(watcher.locator('[data-live="status_label"]')).to_have_text("Confirmed")
    watcher.evaluate("window.notReloaded = true")
    summary = watcher.locator('[data-block="summary"]')
    expect(summary.locator('[data-field="carrier"]')).to_have_text("—")
    expect(watcher.locator('[data-block="payment"]')).to_contain_text("Captured")
    expect(watcher.locator('[data-block="payment"]')).to_contain_text("Invoice")
    expect(watcher.locator('[data-block="other_orders"]').get_by_role("link")).to_have_text(
        earlier["number"]
    )
    # the order was placed through the API: its key is named on the timeline
    expect(watcher.locator("#timeline-entries li").first).to_contain_text("Shop key")

    # staff change the address in another page; the open page follows
    worker = context.new_page()
    open_settled(worker, url)
    worker.get_by_role("link", name="Change address…").click()
    worker.get_by_label("Address", exact=True).fill("Rua Nova 5")
    worker.get_by_label("Postal code").fill("1000-001")
    worker.get_by_label("City").fill("Lisboa")
    worker.get_by_label("Country").fill("pt")  # not an ISO code: refused on its field
    worker.get_by_role("button", name="Change the address").click()
    expect(worker.locator(".errorlist")).to_contain_text("ISO 3166")
    worker.get_by_label("Country").fill("PT")
    worker.screenshot(path=artifacts / f"order-address-{viewport}.png", full_page=True)
    worker.get_by_role("button", name="Change the address").click()
    expect(worker.locator(".messages")).to_contain_text("Shipping address changed.")
    expect(watcher.locator('[data-block="customer"] address')).to_contain_text("Rua Nova 5")
    changed = watcher.locator("#timeline-entries li", has_text="Shipping address changed")
    expect(changed).to_contain_text("Staff operator")

    # a note written in one page appears in the other
    worker.get_by_label("New note").fill("Customer called: leave the parcel at the neighbour's.")
    worker.get_by_role("button", name="Add note").click()
    expect(worker.locator(".messages")).to_contain_text("Note added.")
    note = watcher.locator("#notes-list li")
    expect(note).to_contain_text("leave the parcel at the neighbour's")
    expect(note).to_contain_text("operator")

    # the confirmation e-mail, once sent, can be sent again
    assert wait_until(
        lambda: Notification.objects.filter(order_id=order["id"], status="sent").exists(),
        timeout=60,
    ), live_stack.logs()
    open_settled(worker, url)
    emails = worker.locator('[data-block="emails"]')
    expect(emails).to_contain_text("Order confirmation")
    emails.get_by_role("button", name=re.compile("Send .Order confirmation. again")).click()
    expect(worker.locator(".messages")).to_contain_text("is being sent again to ana@example.com")
    expect(worker.locator('[data-block="emails"]')).to_contain_text("resent by operator")

    # the shop ships through the API: the summary says so, with no reload
    live_stack.api(
        "POST",
        f"orders/{order['id']}/ship",
        {"carrier": CARRIER, "tracking_number": "DPUX00001"},
    )
    expect(watcher.locator('[data-live="status_label"]')).to_have_text("Shipped")
    expect(summary.locator('[data-field="carrier"]')).to_have_text(CARRIER)
    expect(summary.locator('[data-field="tracking_number"]')).to_have_text("DPUX00001")
    address_button = watcher.locator('[data-block="customer"] [data-action="change_address"]')
    expect(address_button).to_have_count(0)

    # the carrier reports the parcel out for delivery: its name is on the timeline
    live_stack.carrier("DPUX00001", "out_for_delivery", location="Lisboa")
    expect(summary.locator('[data-field="status"]')).to_have_text("Out for delivery")
    out = watcher.locator("#timeline-entries li", has_text="Out for delivery")
    expect(out).to_contain_text(f"Carrier {CARRIER}")
    expect(out).to_contain_text("Parcel DPUX00001")  # which parcel the step is about
    assert watcher.evaluate("window.notReloaded") is True
    watcher.screenshot(path=artifacts / f"order-page-{viewport}.png", full_page=True)
    # the page after the day's work: every block filled, no serious or critical violation
    found = {"watcher": _violations(watcher), "worker": _violations(worker)}
    assert found == {"watcher": [], "worker": []}, json.dumps(found, indent=2)

    # once shipped, the address can no longer change: a message says why
    worker.goto(f"{url}/address")
    expect(worker.locator(".messages")).to_contain_text("can no longer change")
    context.close()
