"""Support's admin for payments and invoices: searchable evidence, never edited by hand."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders import services as order_services
from orders.models import Product
from payments.models import Invoice, Payment, Refund
from payments.services import RefundLine, invoice_issue, payment_refund
from testkit.factories import STAFF
from testkit.payments import confirmed_order

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


def _refund_the_rest(client, *payments):
    return client.post(
        reverse("admin:payments_payment_changelist"),
        {"action": "refund_the_rest", "_selected_action": [str(p.pk) for p in payments]},
        follow=True,
    )


def test_support_refunds_what_is_left_of_a_payment(admin_client, shop, products):
    order, payment = confirmed_order(shop)
    payment_refund(order_id=order.pk, shop_id=None, amount=Decimal("9.70"))
    done, done_payment = confirmed_order(shop)
    payment_refund(order_id=done.pk, shop_id=None, amount=Decimal("59.70"))

    response = _refund_the_rest(admin_client, payment, done_payment)

    assert response.status_code == 200
    page = response.content.decode()
    credit_note = Refund.objects.get(amount=Decimal("50.00")).credit_note
    assert f"Refunded 50.00 EUR of {order.pk}, credit note {credit_note.number}." in page
    assert f"Order {done.number} has no captured payment to refund" in page
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("refunded", Decimal("59.70"))
    assert sorted(Refund.objects.filter(payment=payment).values_list("amount", flat=True)) == [
        Decimal("9.70"),
        Decimal("50.00"),
    ]
    assert Refund.objects.get(amount=Decimal("50.00")).reason == "Refunded by support (staff:admin)"
    assert Refund.objects.filter(payment=done_payment).count() == 1


def test_staff_without_the_refund_permission_cannot_refund(client, shop, products):
    _, payment = confirmed_order(shop)
    user = User.objects.create_user("sam", password="pw-sam-123456", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_payment"))
    client.force_login(user)

    page = client.get(reverse("admin:payments_payment_changelist")).content.decode()
    response = _refund_the_rest(client, payment)

    assert "refund_the_rest" not in page
    assert response.status_code == 200
    assert not Refund.objects.exists()
    payment.refresh_from_db()
    assert payment.status == "captured"


def test_support_refunds_the_units_left_and_restocks_them(admin_client, shop, products):
    order, payment = confirmed_order(shop)  # COFFEE-1KG x2, MUG x1
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number="JD5"
    )
    payment_refund(
        order_id=order.pk, shop_id=None, lines=[RefundLine(sku="COFFEE-1KG", quantity=1)]
    )

    response = admin_client.post(
        reverse("admin:payments_payment_changelist"),
        {"action": "refund_the_rest", "_selected_action": [str(payment.pk)], "restock": "on"},
        follow=True,
    )

    refund = Refund.objects.get(restock=True)
    assert refund.lines == [{"sku": "COFFEE-1KG", "quantity": 1}, {"sku": "MUG", "quantity": 1}]
    assert refund.amount == Decimal("34.80")
    assert (
        f"Refunded 34.80 EUR of {order.pk}, credit note {refund.credit_note.number}; "
        "the units are back on hand."
    ) in response.content.decode()
    assert dict(Product.objects.values_list("sku", "on_hand")) == {"COFFEE-1KG": 49, "MUG": 20}
    payment.refresh_from_db()
    assert payment.status == "refunded"


def test_the_payment_page_shows_each_refunds_credit_note(admin_client, shop, products):
    order, payment = confirmed_order(shop)
    for amount in ("1.00", "2.00", "3.00"):
        payment_refund(order_id=order.pk, shop_id=None, amount=Decimal(amount))
    numbers = list(
        Invoice.objects.filter(kind="credit_note")
        .order_by("sequence")
        .values_list("number", flat=True)
    )

    page = admin_client.get(reverse("admin:payments_payment_change", args=[payment.pk]))

    assert page.status_code == 200
    for number in numbers:
        assert f">{number}</a>" in page.content.decode()


def test_the_payment_page_costs_the_same_queries_however_many_refunds(admin_client, shop, products):
    _, one = confirmed_order(shop)
    payment_refund(order_id=one.order_id, shop_id=None, amount=Decimal("1.00"))
    _, three = confirmed_order(shop)
    for amount in ("1.00", "2.00", "3.00"):
        payment_refund(order_id=three.order_id, shop_id=None, amount=Decimal(amount))

    admin_client.get(reverse("admin:payments_payment_change", args=[one.pk]))  # warm-up
    with CaptureQueriesContext(connection) as with_one:
        admin_client.get(reverse("admin:payments_payment_change", args=[one.pk]))
    with CaptureQueriesContext(connection) as with_three:
        page = admin_client.get(reverse("admin:payments_payment_change", args=[three.pk]))

    assert page.status_code == 200
    assert len(with_three) == len(with_one), [q["sql"] for q in with_three.captured_queries]
