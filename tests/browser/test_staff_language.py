"""A staff member whose browser speaks Portuguese works in Portuguese, live words included,
and the header's switch turns the pages to English."""

import pytest
from playwright.sync_api import expect

from orders import services as order_services
from orders.services import returns
from payments.services import payment_charge
from testkit.factories import order_in

from .conftest import CARRIER, log_in

pytestmark = pytest.mark.django_db(transaction=True)

STAFF = order_services.Actor(kind="staff", name="ana")


def test_the_board_speaks_the_browsers_language_until_the_switch_says_otherwise(
    web_only, staff, browser, artifacts
):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="pt-BR")
    board = context.new_page()
    log_in(board, web_only, staff)

    # the header, and the live indicator that live.js words from the page
    expect(board.get_by_role("navigation", name="Equipe")).to_be_visible()
    expect(board.get_by_role("link", name="Painel")).to_be_visible()
    expect(board.locator("#live-indicator")).to_have_text("Ao vivo")
    expect(board.locator("#board-range")).to_have_text("Nenhum pedido")
    expect(board.get_by_role("columnheader", name="Atualizado")).to_be_attached()
    board.screenshot(path=artifacts / "staff-board-pt-br.png")

    # when the staff member switches to English
    board.get_by_role("button", name="English").click()

    # then the same page is in English, and stays so
    expect(board.locator("#live-indicator")).to_have_text("Live")
    expect(board.locator("#board-range")).to_have_text("No orders")
    expect(board.get_by_role("link", name="Board", exact=True)).to_be_visible()
    board.goto(f"{web_only.base_url}/staff/failed-events")
    expect(board.get_by_role("heading", name="Failed event handling")).to_be_visible()
    expect(board.get_by_role("button", name="Português Brasileiro")).to_be_visible()


def test_the_return_and_refund_forms_speak_portuguese(web_only, demo_shop, supervisor, browser):
    # given a delivered order with a return asked for, and a supervisor whose browser speaks
    # Portuguese
    order = order_in(demo_shop, "reserved", lines={"COFFEE-1KG": 2})
    payment = payment_charge(order_id=order.pk, attempt=1)
    order_services.order_confirm_payment(
        order_id=order.pk, payment_id=payment.pk, amount=payment.amount, currency="EUR"
    )
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier=CARRIER, tracking_number="DP77770003"
    )
    returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("COFFEE-1KG", 1)],
        reason="Lata amassada.",
        actor=STAFF,
    )
    english = browser.new_context()  # log_in reads the login form's English words
    log_in(english.new_page(), web_only, supervisor)
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="pt-BR",
        storage_state=english.storage_state(),
    )
    english.close()
    page = context.new_page()

    # the order page's returns block: its words and its steps' buttons
    page.goto(f"{web_only.base_url}/staff/orders/{order.pk}")
    block = page.locator("#returns")
    expect(block.get_by_role("heading", name="Devoluções")).to_be_visible()
    expect(block.get_by_role("button", name="Aprovar", exact=True)).to_be_visible()
    expect(block.get_by_role("button", name="Recusar", exact=True)).to_be_visible()
    expect(block.get_by_label("Motivo (o cliente lê)")).to_be_visible()

    # opening a return: the form, and a refusal, in Portuguese
    block.get_by_role("link", name="Abrir uma devolução…").click()
    expect(page.get_by_role("heading", name="Abrir uma devolução")).to_be_visible()
    expect(page.get_by_label("Motivo")).to_be_visible()
    page.get_by_label("Motivo").fill("Pedido por telefone.")
    page.get_by_role("button", name="Abrir a devolução").click()
    expect(page.get_by_text("Indique pelo menos um item a devolver.")).to_be_visible()

    # the refund form: its labels, and a refusal, in Portuguese
    page.goto(f"{web_only.base_url}/staff/payments/orders/{order.pk}/refund")
    expect(page.get_by_role("heading", name="Reembolsar")).to_be_visible()
    expect(page.get_by_label("Valor")).to_be_visible()
    page.get_by_role("button", name="Reembolsar").click()
    expect(page.get_by_text("Este campo é obrigatório.")).to_be_visible()
    for english in ("Amount", "Reason", "Refund", "Open a return", "Returns"):
        assert english not in page.locator("main").inner_text()
    context.close()
