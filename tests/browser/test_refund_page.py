"""Staff refund part of an order's payment in a real browser (#15): from the order page's
payment card to the form and back, a refused amount shown on the form."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from orders import services as order_services
from payments.models import Payment, Refund
from payments.services import payment_charge
from testkit.factories import order_in

from .conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_supervisor_refunds_part_of_a_payment_from_the_order_page(
    web_only, demo_shop, supervisor, browser, artifacts
):
    order = order_in(demo_shop, "reserved", lines={"COFFEE-1KG": 2})  # 49.80 EUR
    payment = payment_charge(order_id=order.pk, attempt=1)
    order_services.order_confirm_payment(
        order_id=order.pk, payment_id=payment.pk, amount=payment.amount, currency="EUR"
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, web_only, supervisor)
    page.goto(f"{web_only.base_url}/staff/orders/{order.pk}")

    page.get_by_role("link", name="Refund…", exact=True).click()
    expect(page.get_by_role("heading", name="Refund", exact=True)).to_be_visible()
    expect(page.locator('[data-field="refundable"]')).to_have_text("49.80 EUR")

    # more than was captured: a message on the form, nothing refunded
    page.get_by_label("Amount").fill("60.00")
    page.get_by_role("button", name="Refund", exact=True).click()
    expect(page.get_by_text("is more than what is left to refund")).to_be_visible()
    assert not Refund.objects.exists()

    page.get_by_label("Amount").fill("9.80")
    page.get_by_label("Reason").fill("Dented tin")
    page.get_by_role("button", name="Refund", exact=True).click()

    page.wait_for_url(f"{web_only.base_url}/staff/orders/{order.pk}")
    expect(page.get_by_text("Refunded 9.80 EUR; the customer is told.")).to_be_visible()
    expect(page.locator('#payment [data-field="refunded"]')).to_have_text("9.80 EUR")
    page.screenshot(path=str(artifacts / "staff-refund-done.png"), full_page=True)
    assert Payment.objects.get(order_id=order.pk).refunded_amount == Decimal("9.80")
    context.close()
