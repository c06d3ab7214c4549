"""The live order page never takes a block from under the user: a push that arrives while a
button is pressed, or while focus is inside a block, leaves that block alone (the click
lands, the keyboard stays where it was) and says "Updated — refresh this block".

A block whose field the user has changed is kept too, focus or not: the text typed into a
return's rejection reason survives a push, leaving the block and another push, until the
user asks for the fresh block (which shows the new data) or sends the form (which sends the
text).

The gate is explicit: the user's press, focus or typing is in place first, another page
writes a note (a push to every open page of the order), and the test waits until this page
has fetched the blocks after that push (``body[data-blocks-fetched]`` grows) before it
releases the button, presses Enter or looks at the block."""

import json
import re

import pytest
from playwright.sync_api import expect

from notifications import services as notifications_services
from notifications.models import Notification
from orders import services
from orders.models import Return
from orders.services import returns
from payments.services import payment_charge
from testkit.factories import order_in
from tests.fixtures import drain_until_settled

from .conftest import CARRIER, log_in
from .test_accessibility import _violations

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
STAFF = services.Actor(kind="staff", name="ana")


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


def shipped_with_a_return(shop):
    """An order of two units, paid and shipped, with a return of one of them asked for."""
    order = order_in(shop, "reserved", lines={"COFFEE-1KG": 2})
    payment = payment_charge(order_id=order.pk, attempt=1)
    services.order_confirm_payment(
        order_id=order.pk, payment_id=payment.pk, amount=payment.amount, currency="EUR"
    )
    services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier=CARRIER, tracking_number="DP55550001"
    )
    returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("COFFEE-1KG", 1)],
        reason="The tin was dented.",
        actor=STAFF,
    )
    return order


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_push_never_takes_the_text_typed_into_a_block(
    web_only, supervisor, demo_shop, browser, artifacts, viewport
):
    order = shipped_with_a_return(demo_shop)
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=viewport == "phone"
    )
    page = context.new_page()
    other = context.new_page()  # staff writing a note in another tab
    log_in(page, web_only, supervisor)
    url = f"{web_only.base_url}/staff/orders/{order.pk}"
    open_settled(page, url)
    block = page.locator('[data-block="returns"]')
    reason = block.get_by_label("Why (the customer reads it)")
    typed = "The photo shows a drop, not a dented tin"

    # typing the reason for a rejection when a push brings the block a second return
    reason.fill(typed)
    returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("COFFEE-1KG", 1)],
        reason="The second tin leaks.",
        actor=STAFF,
    )
    push_while(page, other, url, "Written while the reason was typed")
    expect(page.locator("#notes-list li", has_text="while the reason")).to_have_count(1)
    waiting = block.locator(".block-waiting")
    expect(waiting).to_have_text("Updated — refresh this block")
    expect(reason).to_have_value(typed)
    expect(reason).to_be_focused()
    expect(block.get_by_text("The second tin leaks.")).to_have_count(0)

    # the user leaves the block: the changed field still holds it, through another push too
    page.locator("#note-form").get_by_label("New note").focus()
    expect(waiting).to_have_count(1)
    expect(reason).to_have_value(typed)
    push_while(page, other, url, "Written after the reason was left")
    expect(page.locator("#notes-list li", has_text="after the reason")).to_have_count(1)
    expect(reason).to_have_value(typed)
    expect(page.locator(".block-waiting")).to_have_count(1)
    expect(block.get_by_text("The second tin leaks.")).to_have_count(0)
    page.screenshot(path=artifacts / f"order-block-typed-waiting-{viewport}.png", full_page=True)
    found = _violations(page)
    assert found == [], json.dumps(found, indent=2)

    # asked for, the fresh block comes in with the new data, and the keyboard is in it
    waiting.get_by_role("button", name="refresh this block").click()
    expect(page.locator(".block-waiting")).to_have_count(0)
    expect(block.get_by_text("The second tin leaks.")).to_be_visible()
    expect(block).to_be_focused()
    first = block.locator('[data-return="1"]')
    expect(first.get_by_label("Why (the customer reads it)")).to_have_value("")

    # typed again, the block left and a push later, the text is what the form sends
    first.get_by_label("Why (the customer reads it)").fill(typed)
    page.locator("#note-form").get_by_label("New note").focus()
    push_while(page, other, url, "Written before the rejection was sent")
    expect(block.locator(".block-waiting")).to_have_count(1)
    first.get_by_role("button", name="Reject", exact=True).click()
    expect(page.get_by_text("Return R1 rejected; the customer is told why.")).to_be_visible()
    rejected = Return.objects.get(order_id=order.pk, number=1)
    assert (rejected.status, rejected.rejection_reason) == ("rejected", typed)
    context.close()
