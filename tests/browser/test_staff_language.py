"""A staff member whose browser speaks Portuguese works in Portuguese, live words included,
and the header's switch turns the pages to English."""

import pytest
from playwright.sync_api import expect

from .conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


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
