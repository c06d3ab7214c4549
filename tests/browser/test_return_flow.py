"""Staff move a return on in a real browser (#15): from the order page's Returns block, approve,
mark received with the units back on hand, and refund the returned lines; a rejection without a
reason is refused by the form, and the block shows each step."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from orders import services as order_services
from orders.models import Product, Return
from orders.services import returns
from payments.models import Refund
from payments.services import payment_charge
from testkit.factories import order_in
from tests.fixtures import drain_until_settled

from .conftest import CARRIER, log_in

pytestmark = pytest.mark.django_db(transaction=True)

STAFF = order_services.Actor(kind="staff", name="ana")


def test_a_supervisor_takes_a_return_from_request_to_refund(
    web_only, demo_shop, supervisor, browser, artifacts
):
    order = order_in(demo_shop, "reserved", lines={"COFFEE-1KG": 2})  # 49.80 EUR
    payment = payment_charge(order_id=order.pk, attempt=1)
    order_services.order_confirm_payment(
        order_id=order.pk, payment_id=payment.pk, amount=payment.amount, currency="EUR"
    )
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier=CARRIER, tracking_number="DP77770001"
    )
    returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("COFFEE-1KG", 1)],
        reason="The tin was dented.",
        actor=STAFF,
    )
    on_hand = Product.objects.get(shop=demo_shop, sku="COFFEE-1KG").on_hand
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, web_only, supervisor)
    page.goto(f"{web_only.base_url}/staff/orders/{order.pk}")
    block = page.locator("#returns")
    expect(block.get_by_text("The tin was dented.")).to_be_visible()

    # a rejection needs a reason: the browser refuses the empty field, nothing is sent
    block.get_by_role("button", name="Reject", exact=True).click()
    assert Return.objects.get().status == "requested"

    block.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_text("Return R1 approved; the customer is told")).to_be_visible()
    block = page.locator("#returns")
    expect(block.get_by_label("Put the units back on hand")).to_be_checked()
    block.get_by_role("button", name="Mark received", exact=True).click()
    expect(page.get_by_text("Return R1 received.")).to_be_visible()
    page.locator("#returns").get_by_role("button", name="Refund", exact=True).click()

    expect(page.get_by_text("Return R1 refunded; the customer is told.")).to_be_visible()
    expect(page.locator('#returns [data-field="return_status"]')).to_have_text("Refunded")
    page.screenshot(path=str(artifacts / "staff-return-refunded.png"), full_page=True)
    saved = Return.objects.get()
    assert (saved.status, saved.restock, saved.refunded_amount) == (
        "refunded",
        True,
        Decimal("24.90"),
    )
    assert Refund.objects.get().amount == Decimal("24.90")
    assert Product.objects.get(shop=demo_shop, sku="COFFEE-1KG").on_hand == on_hand + 1
    context.close()


def test_two_returns_each_on_the_staff_page_and_the_customers_page_live(
    web_only, demo_shop, supervisor, browser, artifacts
):
    # given a delivered order of two tins with two returns: the first approved, the second asked
    order = order_in(demo_shop, "reserved", lines={"COFFEE-1KG": 2})
    payment = payment_charge(order_id=order.pk, attempt=1)
    order_services.order_confirm_payment(
        order_id=order.pk, payment_id=payment.pk, amount=payment.amount, currency="EUR"
    )
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier=CARRIER, tracking_number="DP77770002"
    )
    order_services.order_deliver(order_id=order.pk, shop=None, actor=STAFF)
    first = returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("COFFEE-1KG", 1)],
        reason="The tin was dented.",
        actor=STAFF,
    )
    returns.return_approve(return_id=first.pk, actor=STAFF)
    returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("COFFEE-1KG", 1)],
        reason="Changed my mind.",
        actor=STAFF,
    )
    drain_until_settled()

    # the customer's page is open in Portuguese, listing both returns
    customer = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, locale="pt-BR"
    ).new_page()
    customer.goto(f"{web_only.base_url}/track/{order.tracking_token}")
    expect(customer.locator("#live-indicator")).to_have_text("Ao vivo")
    listed = customer.locator("#return-list li")
    expect(listed).to_have_count(2)
    expect(listed.nth(0)).to_contain_text("Devolução 1")
    expect(listed.nth(0).locator(".status")).to_have_text("Aprovada: envie os itens de volta")
    expect(listed.nth(1).locator(".status")).to_have_text("Em análise")
    customer.evaluate("window.notReloaded = true")

    # the staff order page shows each return with its own steps; the second is rejected
    staff_page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(staff_page, web_only, supervisor)
    staff_page.goto(f"{web_only.base_url}/staff/orders/{order.pk}")
    first_block = staff_page.locator('#returns article[data-return="1"]')
    second_block = staff_page.locator('#returns article[data-return="2"]')
    expect(first_block.get_by_text("The tin was dented.")).to_be_visible()
    expect(second_block.get_by_text("Changed my mind.")).to_be_visible()
    expect(first_block.get_by_role("button", name="Mark received", exact=True)).to_be_visible()
    expect(first_block.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    second_block.get_by_label("Why (the customer reads it)").fill("Opened and used.")
    second_block.get_by_role("button", name="Reject", exact=True).click()
    expect(staff_page.get_by_text("Return R2 rejected; the customer is told why.")).to_be_visible()
    expect(
        staff_page.locator('#returns article[data-return="1"] [data-field="return_status"]')
    ).to_have_text("Approved")
    staff_page.screenshot(path=str(artifacts / "staff-two-returns.png"), full_page=True)
    drain_until_settled()

    # then the customer's page says so without a reload, the first return still open
    expect(listed.nth(1).locator(".status")).to_have_text("Não aceita")
    expect(listed.nth(0).locator(".status")).to_have_text("Aprovada: envie os itens de volta")
    expect(customer.locator('[data-live="next_step"]')).to_have_text(
        "Envie os itens de volta para a loja."
    )
    assert customer.evaluate("window.notReloaded") is True
    customer.screenshot(path=str(artifacts / "tracking-two-returns-pt-BR.png"), full_page=True)
    statuses = dict(Return.objects.values_list("number", "status"))
    assert statuses == {1: "approved", 2: "rejected"}
