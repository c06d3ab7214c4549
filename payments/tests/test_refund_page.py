"""The staff's refund form (/staff/payments/orders/{id}/refund), for the refund role only."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from orderflow.models import OutboxEvent
from orders import services as order_services
from orders.interface import order_details
from orders.models import Product
from payments.models import Payment, Refund
from testkit.factories import STAFF
from testkit.payments import confirmed_order, reserved_order

pytestmark = pytest.mark.django_db


def _url(order) -> str:
    return f"/staff/payments/orders/{order.pk}/refund"


@pytest.fixture
def supervisor(client, django_user_model):
    user = django_user_model.objects.create_user("sup", password="pw-sup-123456", is_staff=True)
    user.groups.add(Group.objects.get(name="supervisor"))
    client.force_login(user)
    return client


def test_a_supervisor_refunds_part_of_the_payment(supervisor, shop, products):
    order, _ = confirmed_order(shop)

    form = supervisor.get(_url(order))
    response = supervisor.post(_url(order), {"amount": "12.50", "reason": "Dented tin"})

    assert form.status_code == 200
    assert 'data-field="refundable">59.70 EUR' in form.content.decode()
    assert response.status_code == 302
    assert response["Location"] == f"/staff/orders/{order.pk}"
    payment = Payment.objects.get(order_id=order.pk)
    assert (payment.status, payment.refunded_amount) == ("partially_refunded", Decimal("12.50"))
    assert list(Refund.objects.values_list("amount", "reason")) == [
        (Decimal("12.50"), "Dented tin")
    ]
    page = supervisor.get(response["Location"]).content.decode()
    assert "Refunded 12.50 EUR; the customer is told." in page


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("59.71", "is more than what is left to refund"),
        ("0", "Ensure this value is greater than or equal to 0.01."),
        ("1.001", "Ensure that there are no more than 2 decimal places."),
        ("", "This field is required."),
        ("ten", "Enter a number."),
    ],
)
def test_a_bad_amount_is_a_message_and_changes_nothing(supervisor, shop, products, amount, message):
    order, _ = confirmed_order(shop)

    response = supervisor.post(_url(order), {"amount": amount})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Refund.objects.exists()
    assert Payment.objects.get(order_id=order.pk).status == "captured"


def test_an_order_with_nothing_captured_says_so(supervisor, shop, products):
    order, _ = confirmed_order(shop)
    supervisor.post(_url(order), {"amount": "59.70"})

    response = supervisor.post(_url(order), {"amount": "1.00"})

    assert response.status_code == 400
    assert "has no captured payment to refund" in response.content.decode()
    assert Refund.objects.count() == 1


def test_nothing_captured_reads_in_portuguese_naming_the_payments_status(
    supervisor, shop, products
):
    order, _ = confirmed_order(shop)
    supervisor.post(_url(order), {"amount": "59.70"})

    response = supervisor.post(
        _url(order), {"amount": "1.00"}, HTTP_ACCEPT_LANGUAGE="pt-BR,pt;q=0.9"
    )

    assert response.status_code == 400
    assert (
        f"O pedido {order.number} não tem pagamento capturado a reembolsar (o pagamento está "
        "reembolsado)."
    ) in response.content.decode()
    assert Refund.objects.count() == 1


def test_an_order_without_a_payment_is_a_404(supervisor, shop, products):
    order = reserved_order(shop)

    assert supervisor.get(_url(order)).status_code == 404


def test_an_operator_may_not_refund(client, django_user_model, shop, products):
    order, _ = confirmed_order(shop)
    user = django_user_model.objects.create_user("op", password="pw-op-1234567", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    client.force_login(user)

    response = client.post(_url(order), {"amount": "1.00"})

    assert response.status_code == 403
    assert not Refund.objects.exists()


def test_the_order_page_links_the_form_for_the_refund_role_only(
    supervisor, client, django_user_model, shop, products
):
    order, _ = confirmed_order(shop)
    link = f'href="/staff/payments/orders/{order.pk}/refund"'

    assert link in supervisor.get(f"/staff/orders/{order.pk}").content.decode()
    supervisor.post(_url(order), {"amount": "59.70"})  # nothing left: no link
    assert link not in supervisor.get(f"/staff/orders/{order.pk}").content.decode()

    other, _ = confirmed_order(shop)
    user = django_user_model.objects.create_user("op", password="pw-op-1234567", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    client.force_login(user)
    page = client.get(f"/staff/orders/{other.pk}").content.decode()
    assert page.count("Refund…") == 0


def _line_field(order, sku: str) -> str:
    skus = [line.sku for line in order_details(order_id=order.pk).lines]
    return f"line_{skus.index(sku)}"


def test_a_supervisor_refunds_shipped_units_and_restocks_them(supervisor, shop, products):
    order, _ = confirmed_order(shop)
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number="JD7"
    )

    form = supervisor.get(_url(order)).content.decode()
    response = supervisor.post(
        _url(order),
        {_line_field(order, "MUG"): "1", "restock": "on", "reason": "Chipped"},
    )

    assert "Units of Mug (MUG)" in form
    assert "Put the refunded units back on hand" in form
    assert response.status_code == 302, response.content.decode()
    refund = Refund.objects.get()
    assert (refund.amount, refund.lines, refund.restock) == (
        Decimal("9.90"),
        [{"sku": "MUG", "quantity": 1}],
        True,
    )
    assert Product.objects.get(sku="MUG").on_hand == 20
    page = supervisor.get(response["Location"]).content.decode()
    number = refund.credit_note.number
    assert f"Refunded 9.90 EUR; the customer is told. Credit note {number}." in page
    assert f"credit note {number} · restocked" in page
    restocked = OutboxEvent.objects.get(type="stock.restocked")
    assert restocked.data["actor"] == "staff:sup"


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({"amount": "5.00", "restock": "on"}, "Only a refund of units puts them back on hand"),
        ({"amount": "5.00", "MUG": "1"}, "Refund an amount or units of lines, not both."),
        ({"MUG": "1", "restock": "on"}, "has not shipped"),
        ({"MUG": "2"}, "Ensure this value is less than or equal to 1."),
    ],
)
def test_a_refused_restock_or_mix_is_a_message_and_changes_nothing(
    supervisor, shop, products, post, message
):
    order, _ = confirmed_order(shop)
    if "MUG" in post:
        post = {**post, _line_field(order, "MUG"): post.pop("MUG")}

    response = supervisor.post(_url(order), post)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Refund.objects.exists()
    assert Product.objects.get(sku="MUG").on_hand == 20


def test_a_supervisor_whose_browser_asks_portuguese_refunds_in_portuguese(
    supervisor, shop, products
):
    order, _ = confirmed_order(shop)

    form = supervisor.get(_url(order), HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    both = supervisor.post(
        _url(order), {"amount": "5.00", "line_0": "1"}, HTTP_ACCEPT_LANGUAGE="pt-BR"
    ).content.decode()
    done = supervisor.post(
        _url(order), {"amount": "12.50"}, HTTP_ACCEPT_LANGUAGE="pt-BR", follow=True
    )

    assert "<h1>Reembolsar</h1>" in form
    # money as Brazilians write it
    assert 'resta <strong data-field="refundable">59,70 EUR</strong>' in form
    assert "Voltar sem fazer nada" in form
    assert 'Motivo <span class="muted small">(opcional)</span>' in form
    assert "Reembolse um valor ou unidades de itens, não os dois." in both
    (message,) = [str(message) for message in done.context["messages"]]
    assert message.startswith("Reembolsado 12,50 EUR; o cliente é avisado. Nota de crédito ")


def test_a_refusal_reads_in_the_staff_members_language_and_the_api_keeps_english(
    supervisor, shop, products, api
):
    """The refund service words its refusals through gettext: a staff member who reads
    Portuguese reads them in Portuguese; the shops' API answers in English as before."""
    order, _ = confirmed_order(shop)
    supervisor.cookies["django_language"] = "pt-br"

    too_much = supervisor.post(_url(order), {"amount": "59.71"})
    api_answer = api.post(
        f"/api/v1/orders/{order.pk}/refunds",
        {"amount": "59.71"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="pt-BR",
    )

    assert too_much.status_code == 400
    assert "59.71 EUR é mais do que resta a reembolsar do pedido" in too_much.content.decode()
    assert api_answer.status_code == 400
    assert "is more than what is left to refund of order" in api_answer.json()["detail"]
    assert not Refund.objects.exists()
