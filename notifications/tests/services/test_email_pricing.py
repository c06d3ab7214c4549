"""The confirmation e-mail shows what the customer pays for: discounts, shipping and taxes."""

from decimal import Decimal

import pytest
from django.core import mail

from orders.models import Discount, ShippingMethod, Shop
from testkit.factories import order_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced_shop(shop, products):
    ShippingMethod.objects.create(shop=shop, code="pac", name="Correios PAC", price=Decimal("12"))
    Discount.objects.create(shop=shop, code="FIVE", kind="fixed", value=Decimal("5.00"))
    return shop


def _confirmation(shop, run_events, send_emails, **pricing):
    order_for(
        shop, lines={"COFFEE-1KG": 2}, shipping_method="pac", discount_codes=["FIVE"], **pricing
    )
    run_events()
    send_emails()
    (message,) = [m for m in mail.outbox if m.to == ["ana@example.com"]]
    return message


def test_a_net_price_shop_shows_discount_shipping_and_the_tax_it_adds(
    priced_shop, run_events, send_emails
):
    Shop.objects.filter(pk=priced_shop.pk).update(prices_include_tax=False, tax_rate=Decimal("0.1"))
    priced_shop.refresh_from_db()

    message = _confirmation(priced_shop, run_events, send_emails)

    # 49.80 - 5.00 = 44.80 at 10 % (4.48) + shipping 12.00 at 10 % (1.20)
    assert "  Discount: -€5.00\n" in message.body
    assert "  Shipping (Correios PAC): €12.00\n" in message.body
    assert "  Taxes: €5.68\n" in message.body
    assert "  Total (taxes added): €62.48" in message.body
    html = message.alternatives[0][0]
    assert "Correios PAC" in html
    assert "(taxes added)" in html


def test_a_shop_whose_prices_include_tax_shows_no_tax_line_in_portuguese(
    priced_shop, run_events, send_emails
):
    message = _confirmation(priced_shop, run_events, send_emails, customer_locale="pt-BR")

    assert "  Desconto: -€\xa05,00\n" in message.body
    assert "  Frete (Correios PAC): €\xa012,00\n" in message.body
    assert "Impostos" not in message.body
    assert "Total (impostos incluídos): €\xa056,80" in message.body
