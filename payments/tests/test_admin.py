"""Support's admin for payments and invoices: searchable evidence, never edited by hand."""

import pytest
from django.urls import reverse

from payments.models import Invoice, Payment
from payments.services import invoice_issue

from .factories import confirmed_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoiced(shop, products):
    """A confirmed order with its captured payment and issued invoice."""
    order, payment = confirmed_order(shop)
    return order, payment, invoice_issue(order_id=order.pk)


@pytest.mark.parametrize("model", ["payment", "invoice"])
def test_changelists_render_the_rows(admin_client, invoiced, model):
    order, _, invoice = invoiced

    response = admin_client.get(reverse(f"admin:payments_{model}_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    page = response.content.decode()
    assert (str(order.pk) if model == "payment" else invoice.number) in page


def test_the_invoice_changelist_links_the_printable_page(admin_client, invoiced):
    _, _, invoice = invoiced

    response = admin_client.get(reverse("admin:payments_invoice_changelist"))

    assert f'href="/staff/payments/invoices/{invoice.pk}"' in response.content.decode()


def test_the_payment_page_shows_its_gateway_attempts(admin_client, invoiced):
    _, payment, _ = invoiced

    response = admin_client.get(reverse("admin:payments_payment_change", args=[payment.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert payment.gateway_reference in page
    assert payment.authorization_reference in page


def test_the_invoice_page_renders(admin_client, invoiced):
    _, _, invoice = invoiced

    response = admin_client.get(reverse("admin:payments_invoice_change", args=[invoice.pk]))

    assert response.status_code == 200
    assert invoice.number in response.content.decode()


@pytest.mark.parametrize(
    ("model", "term"),
    [
        ("payment", lambda order, payment, invoice: str(order.pk)),
        ("payment", lambda order, payment, invoice: payment.gateway_reference),
        ("invoice", lambda order, payment, invoice: invoice.number),
        ("invoice", lambda order, payment, invoice: order.number),
    ],
)
def test_support_finds_a_row_by_its_references(admin_client, invoiced, model, term):
    response = admin_client.get(
        reverse(f"admin:payments_{model}_changelist"), {"q": term(*invoiced)}
    )

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


@pytest.mark.parametrize("model", ["payment", "invoice"])
def test_a_search_for_something_that_is_no_id_finds_nothing(admin_client, invoiced, model):
    response = admin_client.get(
        reverse(f"admin:payments_{model}_changelist"), {"q": "nothing-here"}
    )

    assert response.status_code == 200
    assert response.context["cl"].result_count == 0


@pytest.mark.parametrize("model", ["payment", "invoice"])
def test_rows_cannot_be_added_changed_or_deleted(admin_client, invoiced, model):
    _, payment, invoice = invoiced
    row = payment if model == "payment" else invoice

    add = admin_client.get(reverse(f"admin:payments_{model}_add"))
    change = admin_client.post(
        reverse(f"admin:payments_{model}_change", args=[row.pk]), {"currency": "USD"}
    )
    delete = admin_client.post(
        reverse(f"admin:payments_{model}_delete", args=[row.pk]), {"post": "yes"}
    )

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert Payment.objects.get().currency == "EUR"
    assert Invoice.objects.get().currency == "EUR"
