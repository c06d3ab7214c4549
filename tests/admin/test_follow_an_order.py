"""Support follows one order through the admin: one click to each of its rows, found by
its number, its customer's e-mail or its shop, and only its own rows."""

import re

import pytest
from django.urls import reverse

from notifications.models import Notification, WebhookDelivery
from orderflow.models import OutboxEvent
from payments.models import Invoice, Payment

from .conftest import make_orders

pytestmark = pytest.mark.django_db

#: each support list the order's page links to, and the words of its link
LINKS = {
    "payments_payment": "Payment and refunds",
    "payments_invoice": "Invoices and credit notes",
    "orders_carrierreport": "Parcel reports from carriers",
    "notifications_notification": "E-mails to the customer",
    "notifications_webhookdelivery": "Webhook deliveries to the shop",
    "orderflow_outboxevent": "Events",
    "orderflow_delivery": "Event handling (saga steps)",
    "orders_ordertransition": "Status changes",
}


@pytest.fixture
def two_shops(shop_with_products):
    shop = shop_with_products(name="Café Azul", slug="cafe-azul")
    other = shop_with_products(name="Loja Verde", slug="loja-verde")
    wanted, same_shop = make_orders(shop, 2, email=None)
    (elsewhere,) = make_orders(other, 1)
    return wanted, same_shop, elsewhere


def _rows(response) -> list:
    return list(response.context["cl"].result_list)


def _order_of(row):
    """The order a row of any support list belongs to, as its admin names it."""
    return row._follow_order.order_id if row._follow_order else None


def test_the_order_page_links_each_of_its_lists_filtered_to_it(staff, two_shops):
    wanted, _, _ = two_shops

    page = staff.get(reverse("admin:orders_order_change", args=[wanted.pk])).content.decode()

    for label, words in LINKS.items():
        url = f"{reverse(f'admin:{label}_changelist')}?order={wanted.pk}"
        assert f'<a href="{url}">{words}</a>' in page, label
    assert reverse("admin:tracking_trackedorder_change", args=[wanted.pk]) in page
    assert f'href="/staff/orders/{wanted.pk}"' in page


@pytest.mark.parametrize("label", sorted(LINKS))
def test_each_link_lists_the_orders_rows_and_no_other(staff, two_shops, label):
    wanted, _, _ = two_shops

    response = staff.get(reverse(f"admin:{label}_changelist"), {"order": str(wanted.pk)})

    assert response.status_code == 200
    rows = _rows(response)
    assert rows, f"{label}: the order has rows here"
    assert {_order_of(row) for row in rows} == {wanted.pk}
    # the side bar names the order it filters by
    assert wanted.number in response.content.decode()


@pytest.mark.parametrize("value", ["OF-NOPE", "7b0c8c2e-0000-4000-8000-000000000000"])
def test_a_filter_by_something_that_is_no_order_shows_nothing(staff, two_shops, value):
    response = staff.get(reverse("admin:payments_payment_changelist"), {"order": value})

    assert response.status_code == 200
    assert _rows(response) == []
    assert "no order" in response.content.decode()


SEARCHABLE = [
    "payments_payment",
    "payments_invoice",
    "notifications_notification",
    "notifications_webhookdelivery",
    "orderflow_outboxevent",
    "orderflow_delivery",
    "orders_carrierreport",
    "orders_ordertransition",
    "tracking_trackedorder",
    "tracking_trackingentry",
]


@pytest.mark.parametrize("label", SEARCHABLE)
def test_every_support_list_finds_an_orders_rows_by_its_number(staff, two_shops, label):
    wanted, _, _ = two_shops

    response = staff.get(reverse(f"admin:{label}_changelist"), {"q": wanted.number})

    rows = _rows(response)
    assert rows, f"{label}: searching {wanted.number} found nothing"
    assert {_order_of(row) for row in rows} == {wanted.pk}


@pytest.mark.parametrize("label", SEARCHABLE)
def test_every_support_list_finds_a_customers_rows_by_e_mail(staff, two_shops, label):
    wanted, _, _ = two_shops

    response = staff.get(reverse(f"admin:{label}_changelist"), {"q": wanted.customer_email})

    assert {_order_of(row) for row in _rows(response)} == {wanted.pk}


@pytest.mark.parametrize("label", SEARCHABLE)
def test_every_support_list_finds_a_shops_rows_by_its_name(staff, two_shops, label):
    wanted, same_shop, _ = two_shops

    response = staff.get(reverse(f"admin:{label}_changelist"), {"q": "café azul"})

    assert {_order_of(row) for row in _rows(response)} == {wanted.pk, same_shop.pk}


def test_a_search_that_names_no_order_or_shop_finds_nothing(staff, two_shops):
    response = staff.get(reverse("admin:payments_payment_changelist"), {"q": "OF-00000000"})

    assert _rows(response) == []


def test_lists_name_each_rows_order_and_shop(staff, two_shops):
    wanted, _, _ = two_shops

    page = staff.get(
        reverse("admin:payments_payment_changelist"), {"order": str(wanted.pk)}
    ).content.decode()

    order_url = reverse("admin:orders_order_change", args=[wanted.pk])
    assert f'<a href="{order_url}">{wanted.number}</a>' in page
    assert "Café Azul" in page


def test_stored_json_is_shown_indented_and_read_only(staff, two_shops):
    wanted, _, _ = two_shops
    delivery = WebhookDelivery.objects.filter(payload__data__order_id=str(wanted.pk)).first()
    event = OutboxEvent.objects.filter(data__order_id=str(wanted.pk)).first()
    notification = Notification.objects.filter(order_id=wanted.pk).first()
    invoice = Invoice.objects.get(order_id=wanted.pk)
    pages = {
        "payload": reverse("admin:notifications_webhookdelivery_change", args=[delivery.pk]),
        "data": reverse("admin:orderflow_outboxevent_change", args=[event.pk]),
        "notification data": reverse(
            "admin:notifications_notification_change", args=[notification.pk]
        ),
        "buyer": reverse("admin:payments_invoice_change", args=[invoice.pk]),
    }

    for name, url in pages.items():
        page = staff.get(url).content.decode()
        assert '<pre class="readonly-json"' in page, name
        assert "<textarea" not in page, name
    delivery_page = staff.get(pages["payload"]).content.decode()
    assert f"  &quot;order_id&quot;: &quot;{wanted.pk}&quot;" in delivery_page


def test_who_acted_is_shown_on_the_order_and_its_events(staff, two_shops):
    wanted, _, _ = two_shops

    order_page = staff.get(reverse("admin:orders_order_change", args=[wanted.pk])).content.decode()
    events = staff.get(
        reverse("admin:orderflow_outboxevent_changelist"), {"order": str(wanted.pk)}
    ).content.decode()
    transitions = staff.get(
        reverse("admin:orders_ordertransition_changelist"), {"order": str(wanted.pk)}
    ).content.decode()

    # the status changes: shipped by staff member ana, the rest by the system
    assert re.search(r"<td>confirmed</td><td>shipped</td><td>staff:ana</td>", order_page)
    assert "staff:ana" in events
    assert "staff:ana" in transitions


def test_one_payment_per_order_is_one_click_away(staff, two_shops):
    wanted, _, _ = two_shops
    payment = Payment.objects.get(order_id=wanted.pk)

    response = staff.get(reverse("admin:payments_payment_changelist"), {"order": str(wanted.pk)})

    assert [row.pk for row in _rows(response)] == [payment.pk]


def test_the_dead_letters_shop_filter_names_the_shops(staff, two_shops):
    wanted, _, _ = two_shops

    page = staff.get(reverse("admin:orderflow_deadletter_changelist")).content.decode()
    filtered = staff.get(
        reverse("admin:orderflow_deadletter_changelist"), {"shop": str(wanted.shop_id)}
    )

    assert "Café Azul" in page
    assert "Loja Verde" in page
    assert {_order_of(row) for row in _rows(filtered)} == {wanted.pk}
