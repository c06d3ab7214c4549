"""The live order page never takes a block from under the user: a push that arrives while a
button is pressed, or while focus is inside a block, leaves that block alone (the click
lands, the keyboard stays where it was) and says "Updated — refresh this block".

The gate is explicit: the user's press or focus is in place first, another page writes a
note (a push to every open page of the order), and the test waits until this page has
fetched the blocks after that push (``body[data-blocks-fetched]`` grows) before it releases
the button or presses Enter."""

import json
import re

import pytest
from playwright.sync_api import expect

from notifications import services as notifications_services
from notifications.models import Notification
from orders import services
from tests.fixtures import drain_until_settled

from .conftest import log_in
from .test_accessibility import _violations

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


def fetched(page) -> int:
    return int(page.locator("body").get_attribute("data-blocks-fetched") or 0)


def open_settled(page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#live-indicator")).to_have_text("Live")
    expect(page.locator("body[data-blocks-fetched]")).to_have_count(1)


def push_while(page, other, url: str, note: str) -> None:
    """Write a note in ``other`` and wait until ``page`` has fetched its blocks after it."""
    before = fetched(page)
    other.goto(url)
    other.get_by_label("New note").fill(note)
    other.get_by_role("button", name="Add note").click()
    expect(other.locator(".messages")).to_contain_text("Note added.")
    page.wait_for_function("n => Number(document.body.dataset.blocksFetched) > n", arg=before)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_push_never_takes_a_block_from_under_a_press_or_the_focus(
    web_only, staff, demo_shop, browser, artifacts, viewport
):
    order = services.order_place(
        shop=demo_shop,
        customer=services.CustomerInput(name="Ana Souza", email="ana@example.com"),
        shipping_address={
            "line1": "Rua A 1",
            "city": "São Paulo",
            "postal_code": "01000-000",
            "country": "BR",
        },
        lines=[services.LineInput(sku="COFFEE-1KG", quantity=1)],
        payment_token="tok_ok",
    )
    drain_until_settled()
    notifications_services.email_notifications_drain()  # the confirmation, sent
    assert Notification.objects.filter(order_id=order.id, status="sent").exists()
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=viewport == "phone"
    )
    page = context.new_page()
    other = context.new_page()  # staff writing a note in another tab
    log_in(page, web_only, staff)
    url = f"{web_only.base_url}/staff/orders/{order.id}"
    open_settled(page, url)

    # a press on "Send again" is held while the push arrives; released after it, it lands
    resend = page.locator('[data-block="emails"]').get_by_role(
        "button", name=re.compile("Send .Order confirmation. again")
    )
    resend.scroll_into_view_if_needed()
    box = resend.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    push_while(page, other, url, "Pressed while this arrived")
    # nothing moved under the press: not even the note above the e-mails on a phone
    expect(page.locator("#notes-list li", has_text="Pressed while")).to_have_count(0)
    page.mouse.up()
    expect(page.locator(".messages")).to_contain_text("is being sent again to ana@example.com")

    # the keyboard is inside the customer block when a push arrives: the block waits
    open_settled(page, url)
    change = page.locator('[data-block="customer"]').get_by_role("link", name="Change address…")
    change.focus()
    push_while(page, other, url, "Focused while this arrived")
    expect(page.locator("#notes-list li", has_text="Focused while")).to_have_count(1)
    waiting = page.locator('[data-block="customer"] .block-waiting')
    expect(waiting).to_have_text("Updated — refresh this block")
    expect(change).to_be_focused()
    # the blocks nobody was in were swapped: the note is there, no notice beside it
    expect(page.locator(".block-waiting")).to_have_count(1)
    page.screenshot(path=artifacts / f"order-block-waiting-{viewport}.png", full_page=True)
    found = _violations(page)
    assert found == [], json.dumps(found, indent=2)

    # asked for, the fresh block comes in and the keyboard stays in it
    waiting.get_by_role("button", name="refresh this block").click()
    expect(page.locator(".block-waiting")).to_have_count(0)
    expect(page.locator('[data-block="customer"]')).to_be_focused()

    # focus again, a push, then Enter: the link is followed (nothing was swapped away)
    change = page.locator('[data-block="customer"]').get_by_role("link", name="Change address…")
    change.focus()
    push_while(page, other, url, "Enter after this arrived")
    expect(change).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{url}/address")

    # a block the user has left takes what waited for it at once
    open_settled(page, url)
    change = page.locator('[data-block="customer"]').get_by_role("link", name="Change address…")
    change.focus()
    push_while(page, other, url, "Left the block after this arrived")
    expect(page.locator('[data-block="customer"] .block-waiting')).to_have_count(1)
    page.locator("#note-form").get_by_label("New note").focus()
    expect(page.locator(".block-waiting")).to_have_count(0)
    context.close()
