"""The order page's Returns block: each step by the role it needs, refusals as messages."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from orderflow.models import OutboxEvent
from orders import services as order_services
from orders.models import Return
from orders.services import returns
from payments.models import Refund
from testkit.factories import STAFF, ProductFactory, ShopFactory
from testkit.payments import confirmed_order

pytestmark = pytest.mark.django_db


def _client_with(role: str) -> Client:
    user = get_user_model().objects.create_user(
        username=f"{role}-user", password="a-long-password-42", is_staff=True
    )
    user.groups.set(Group.objects.filter(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def order_return():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", price="9.90", on_hand=20)
    order, _ = confirmed_order(shop)
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number=f"JD{order.pk}"
    )
    return returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("MUG", 1)],
        reason="Arrived chipped.",
        actor=STAFF,
    )


def _step(client, order_return, step, headers=None, **data):
    return client.post(
        f"/staff/orders/{order_return.order_id}/returns/{order_return.pk}/{step}",
        data,
        follow=True,
        **(headers or {}),
    )


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_order_page_shows_the_return_and_the_steps_the_role_may_take(order_return):
    operator = _client_with("operator")
    viewer = _client_with("viewer")

    as_operator = operator.get(f"/staff/orders/{order_return.order_id}").content.decode()
    as_viewer = viewer.get(f"/staff/orders/{order_return.order_id}").content.decode()

    for page in (as_operator, as_viewer):
        assert "Return R1" in page
        assert "1 \u00d7 MUG" in page
        assert "Arrived chipped." in page
    assert 'data-step="approve"' in as_operator
    assert 'data-step="reject"' in as_operator
    assert 'data-step="approve"' not in as_viewer


def test_an_operator_approves_and_receives_with_restock(order_return):
    operator = _client_with("operator")

    approved = _step(operator, order_return, "approve")
    received = _step(operator, order_return, "receive", restock="on")

    assert _messages(approved) == ["Return R1 approved; the customer is told to send it back."]
    assert _messages(received) == ["Return R1 received."]
    saved = Return.objects.get()
    assert (saved.status, saved.restock, saved.decided_by, saved.received_by) == (
        "received",
        True,
        "staff:operator-user",
        "staff:operator-user",
    )
    assert received.redirect_chain[-1][0].endswith(f"/staff/orders/{saved.order_id}#returns")


def test_a_rejection_without_a_reason_is_a_message_and_changes_nothing(order_return):
    response = _step(_client_with("operator"), order_return, "reject", reason="")

    assert _messages(response) == [
        "Not done: reason: say why the return is rejected; the customer reads it."
    ]
    assert Return.objects.get().status == "requested"


def test_a_viewer_may_take_no_step_and_an_operator_may_not_refund(order_return):
    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    returns.return_receive(return_id=order_return.pk, actor=STAFF, restock=False)
    events = OutboxEvent.objects.count()

    by_viewer = _step(_client_with("viewer"), order_return, "refund")
    by_operator = _step(_client_with("operator"), order_return, "refund")

    assert (by_viewer.status_code, by_operator.status_code) == (403, 403)
    assert "Ask for the supervisor role" in by_operator.content.decode()
    assert Return.objects.get().status == "received"
    assert not Refund.objects.exists()
    assert OutboxEvent.objects.count() == events


def test_a_supervisor_refunds_the_returned_lines_or_an_amount(order_return):
    returns.return_approve(return_id=order_return.pk, actor=STAFF)
    returns.return_receive(return_id=order_return.pk, actor=STAFF, restock=False)
    supervisor = _client_with("supervisor")

    too_much = _step(supervisor, order_return, "refund", amount="500.00")
    refunded = _step(supervisor, order_return, "refund", amount="")

    assert _messages(too_much)[0].startswith("Not done: Not refunded: 500.00 EUR is more than")
    assert _messages(refunded) == ["Return R1 refunded; the customer is told."]
    saved = Return.objects.get()
    assert (saved.status, saved.refunded_amount, saved.settled_by) == (
        "refunded",
        Decimal("9.90"),
        "staff:supervisor-user",
    )
    assert Refund.objects.get().amount == Decimal("9.90")


def test_a_step_out_of_order_is_a_message(order_return):
    response = _step(_client_with("supervisor"), order_return, "close")

    assert _messages(response) == [
        f"Not done: Return {order_return.order.number}-R1 is requested; it cannot become "
        "closed without refund."
    ]
    assert Return.objects.get().status == "requested"


def test_an_unknown_step_or_another_orders_return_is_not_found(order_return):
    operator = _client_with("operator")
    other = f"/staff/orders/{order_return.order_id}/returns/{order_return.pk}"

    assert operator.post(f"{other}/explode").status_code == 404
    assert (
        operator.post(
            f"/staff/orders/{order_return.order_id}/returns/{order_return.order_id}/approve"
        ).status_code
        == 404
    )
    assert operator.get(f"{other}/approve").status_code == 405
    assert Return.objects.get().status == "requested"


def _shipped_order():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", name="Coffee beans", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", name="Blue mug", price="9.90", on_hand=20)
    order, _ = confirmed_order(shop)
    return order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number=f"JD{order.pk}"
    )


def test_an_operator_opens_a_return_for_the_customer_from_the_order_page():
    order = _shipped_order()
    operator = _client_with("operator")
    page = operator.get(f"/staff/orders/{order.pk}").content.decode()
    form = operator.get(f"/staff/orders/{order.pk}/returns/new")

    response = operator.post(
        f"/staff/orders/{order.pk}/returns/new",
        {"units_COFFEE-1KG": "1", "units_MUG": "0", "reason": "Phoned: wrong grind."},
        follow=True,
    )

    assert f'href="/staff/orders/{order.pk}/returns/new"' in page
    assert "Blue mug (MUG): units coming back" in form.content.decode()
    assert _messages(response) == ["Return R1 opened; the customer is told."]
    order_return = Return.objects.get()
    assert (order_return.requested_by, order_return.reason) == (
        "staff:operator-user",
        "Phoned: wrong grind.",
    )
    assert list(order_return.lines.values_list("sku", "quantity")) == [("COFFEE-1KG", 1)]


def test_opening_a_return_refused_is_shown_on_the_form_and_a_viewer_may_not():
    order = _shipped_order()
    operator = _client_with("operator")

    nothing = operator.post(
        f"/staff/orders/{order.pk}/returns/new", {"units_MUG": "0", "reason": "x"}
    )
    too_many = operator.post(
        f"/staff/orders/{order.pk}/returns/new", {"units_MUG": "2", "reason": "x"}
    )
    by_viewer = _client_with("viewer").post(
        f"/staff/orders/{order.pk}/returns/new", {"units_MUG": "1", "reason": "x"}
    )

    assert nothing.status_code == too_many.status_code == 400
    assert "Name at least one line to return." in nothing.content.decode()
    assert "Ensure this value is less than or equal to 1." in too_many.content.decode()
    assert by_viewer.status_code == 403
    assert not Return.objects.exists()


def test_an_order_not_shipped_offers_no_return():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", price="9.90", on_hand=20)
    order, _ = confirmed_order(shop)
    operator = _client_with("operator")

    page = operator.get(f"/staff/orders/{order.pk}").content.decode()
    refused = operator.post(
        f"/staff/orders/{order.pk}/returns/new", {"units_MUG": "1", "reason": "x"}
    )

    assert "returns/new" not in page
    assert refused.status_code == 400
    assert "only an order that has shipped (all or part of it)" in refused.content.decode()
    assert not Return.objects.exists()


PORTUGUESE = {"HTTP_ACCEPT_LANGUAGE": "pt-BR,pt;q=0.9"}


def test_a_return_of_an_order_not_shipped_is_refused_in_portuguese_naming_its_status():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", price="9.90", on_hand=20)
    order, _ = confirmed_order(shop)

    refused = _client_with("operator").post(
        f"/staff/orders/{order.pk}/returns/new", {"units_MUG": "1", "reason": "x"}, **PORTUGUESE
    )

    assert refused.status_code == 400
    assert (
        f"O pedido {order.number} está confirmado; só um pedido enviado (no todo ou em parte) "
        "ou entregue pode ter uma devolução."
    ) in refused.content.decode()
    assert not Return.objects.exists()


def test_the_steps_refusals_and_messages_read_in_the_staff_members_language(order_return):
    supervisor = _client_with("supervisor")

    out_of_order = _step(supervisor, order_return, "close", PORTUGUESE)
    no_reason = _step(supervisor, order_return, "reject", PORTUGUESE, reason="")
    bad_amount = _step(supervisor, order_return, "refund", PORTUGUESE, amount="-1")
    approved = _step(supervisor, order_return, "approve", PORTUGUESE)

    number = order_return.order.number
    assert _messages(out_of_order) == [
        f"Não feito: A devolução {number}-R1 está solicitada; não pode passar a encerrada sem "
        "reembolso."
    ]
    assert _messages(no_reason) == [
        "Não feito: motivo: diga por que a devolução foi recusada; o cliente vai ler."
    ]
    [refused] = _messages(bad_amount)
    assert refused.startswith("Não feito: Valor: ")
    assert "amount" not in refused
    assert _messages(approved) == [
        "Devolução R1 aprovada; o cliente é avisado para enviar os itens de volta."
    ]
    assert Return.objects.get().status == "approved"
    # the block names the return's status in Portuguese too
    page = supervisor.get(f"/staff/orders/{order_return.order_id}", **PORTUGUESE)
    assert 'data-field="return_status">Aprovada</span>' in page.content.decode()


def test_opening_a_return_refused_reads_in_the_staff_members_language():
    order = _shipped_order()
    operator = _client_with("operator")

    nothing = operator.post(
        f"/staff/orders/{order.pk}/returns/new",
        {"units_MUG": "0", "reason": "x"},
        **PORTUGUESE,
    )

    page = nothing.content.decode()
    assert nothing.status_code == 400
    assert "Indique pelo menos um item a devolver." in page
    assert "Name at least" not in page
    assert "lines:" not in page
    assert not Return.objects.exists()
