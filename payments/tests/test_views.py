"""The staff's printable invoice page."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from orders.models import Shop
from payments.services import invoice_issue
from testkit.payments import cancel, confirmed_order, settle_cancellation

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(shop, products):
    order, _ = confirmed_order(shop)
    return invoice_issue(order_id=order.pk)


def _page(invoice_id) -> str:
    return f"/staff/payments/invoices/{invoice_id}"


def test_staff_see_the_printable_invoice(admin_client, invoice):
    year = timezone.now().year

    response = admin_client.get(_page(invoice.pk))

    assert response.status_code == 200
    assert response.templates[0].name == "payments/invoice_print.html"
    page = response.content.decode()
    assert f"<title>Invoice {year}-000001</title>" in page
    assert f"<h1>Invoice {year}-000001</h1>" in page
    assert f"Order {invoice.order_number}" in page
    assert "Beans &amp; Co Ltda" in page
    assert "Tax id BR12345678" in page
    assert "Ana Souza" in page
    assert (
        '<tr><td>COFFEE-1KG</td><td>Coffee 1 kg</td><td class="num">24.90</td>'
        '<td class="num">2</td><td class="num"></td><td class="num">20 %</td>'
        '<td class="num">49.80</td></tr>'
    ) in page
    assert (
        '<tr><td>MUG</td><td>Mug</td><td class="num">9.90</td>'
        '<td class="num">1</td><td class="num"></td><td class="num">20 %</td>'
        '<td class="num">9.90</td></tr>'
    ) in page
    assert '<td colspan="6" class="num">Net</td><td class="num">49.75</td>' in page
    assert 'Tax 20 % on 49.75</td><td class="num">9.95</td>' in page
    assert '<td colspan="6" class="num">Total EUR</td><td class="num">59.70</td>' in page
    assert "Cancelled by credit note" not in page


def test_staff_see_the_credit_note_and_what_it_cancels(admin_client, shop, products):
    year = timezone.now().year
    order, _ = confirmed_order(shop)
    invoice = invoice_issue(order_id=order.pk)
    cancel(order)
    credit_note = settle_cancellation(order)

    note_page = admin_client.get(_page(credit_note.pk)).content.decode()
    invoice_page = admin_client.get(_page(invoice.pk)).content.decode()

    assert f"<h1>Credit note {year}-000002</h1>" in note_page
    assert '<td colspan="6" class="num">Total EUR</td><td class="num">-59.70</td>' in note_page
    assert 'Tax 20 % on -49.75</td><td class="num">-9.95</td>' in note_page
    assert f"This credit note cancels invoice {year}-000001." in note_page
    assert f"Cancelled by credit note {year}-000002." in invoice_page


def test_a_staff_member_who_is_not_a_superuser_sees_it_too(client, django_user_model, invoice):
    viewer = django_user_model.objects.create_user("ops", password="pw-ops-1", is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewer"))
    client.force_login(viewer)

    response = client.get(_page(invoice.pk))

    assert response.status_code == 200
    assert invoice.number in response.content.decode()


def test_an_unknown_invoice_is_a_404(admin_client, invoice):
    response = admin_client.get(_page(uuid.uuid4()))

    assert response.status_code == 404


def test_anonymous_visitors_are_sent_to_the_login_page(client, invoice):
    response = client.get(_page(invoice.pk))

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={_page(invoice.pk)}"


def test_a_user_who_is_not_staff_is_refused(client, django_user_model, invoice):
    client.force_login(django_user_model.objects.create_user("shopper", password="pw-shop-1"))

    response = client.get(_page(invoice.pk))

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={_page(invoice.pk)}"
    assert b"Beans" not in response.content


@pytest.mark.parametrize(("rate", "printed"), [("0", "0"), ("0.07", "7"), ("0.075", "7.5")])
def test_the_tax_rate_is_printed_as_the_exact_percentage(
    admin_client, shop, products, rate, printed
):
    Shop.objects.filter(pk=shop.pk).update(tax_rate=Decimal(rate))
    shop.refresh_from_db()  # the order is priced with the shop's rate when it is placed
    order, _ = confirmed_order(shop)
    invoice = invoice_issue(order_id=order.pk)

    page = admin_client.get(_page(invoice.pk)).content.decode()

    assert f"Tax {printed} % on " in page
