"""An accessibility scan of the staff pages with axe-core (vendored, no CDN): the board, the
order page, its address form and ship confirmation, the new-order form, failed event
handling, the outbox, the webhook inbox, the refund form and the form that opens a return
have no serious or critical violation, at desktop and phone width."""

import hashlib
import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from orders import services
from tests.fixtures import drain_until_settled
from tracking import services as tracking_services

from .conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "880970c081707360e64f34cea25ff91892f5bc95675b0776925b9709dd8a68bb"
#: what fails the scan (axe's impacts are minor, moderate, serious and critical)
FAILING = {"serious", "critical"}
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


def test_the_vendored_axe_is_the_one_pinned():
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() == AXE_SHA256


def _violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})))"
    )
    return [violation for violation in result if violation["impact"] in FAILING]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_board_and_order_page_have_no_serious_violation(
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
    tracking_services.order_note_add(order_id=order.id, author="staff:operator", body="Fragile")
    width, height = VIEWPORTS[viewport]
    page = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=viewport == "phone"
    ).new_page()
    log_in(page, web_only, staff)
    pages = {
        "board": "/staff/",
        "order": f"/staff/orders/{order.id}",
        "address": f"/staff/orders/{order.id}/address",
        # the rest of a day's staff pages: an action's confirmation, a new order, stuck
        # work, the e-mails and the webhooks a shop receives
        "ship": f"/staff/orders/{order.id}/ship",
        "new order": "/staff/orders/new",
        "failed event handling": "/staff/failed-events",
        "outbox": "/staff/outbox/",
        "webhook inbox": "/staff/webhook-inbox/",
    }

    found = {}
    for name, path in pages.items():
        page.goto(f"{web_only.base_url}{path}")
        if name in ("board", "order"):
            expect(page.locator("#live-indicator")).to_have_text("Live")
        else:
            expect(page.get_by_role("heading", level=1)).to_be_visible()
        found[name] = _violations(page)

    assert found == {name: [] for name in pages}, json.dumps(found, indent=2)
    # the scan can fail: an image without a text alternative is a critical violation
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    assert [v["id"] for v in _violations(page)] == ["image-alt"]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_refund_and_return_forms_have_no_serious_violation(
    web_only, supervisor, demo_shop, browser, viewport
):
    """The supervisor's money pages: the refund form, as it opens and with a refusal shown,
    and the form that opens a return."""
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
    width, height = VIEWPORTS[viewport]
    page = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=viewport == "phone"
    ).new_page()
    log_in(page, web_only, supervisor)
    found = {}

    page.goto(f"{web_only.base_url}/staff/payments/orders/{order.id}/refund")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    found["refund"] = _violations(page)
    page.get_by_label("Amount").fill("100000.00")
    page.get_by_role("button", name="Refund").click()
    expect(page.get_by_text("is more than what is left to refund")).to_be_visible()
    found["refund refused"] = _violations(page)
    page.goto(f"{web_only.base_url}/staff/orders/{order.id}/returns/new")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    found["open a return"] = _violations(page)

    assert found == {name: [] for name in found}, json.dumps(found, indent=2)
