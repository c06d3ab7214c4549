"""Staff roles and logout in a real browser, against daphne with the Redis channel layer."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from .conftest import STAFF_PASSWORD, log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def viewer(transactional_db):
    user = get_user_model().objects.create_user(
        username="vera", password=STAFF_PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name="viewer"))
    return user


def test_logging_out_in_one_tab_stops_the_live_board_in_another(web_only, viewer, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    board = context.new_page()
    log_in(board, web_only, viewer)
    expect(board.locator("#live-indicator")).to_have_text("Live")

    other_tab = context.new_page()
    other_tab.goto(f"{web_only.base_url}/staff/")
    other_tab.get_by_role("button", name="Log out").click()

    # the server closed the board's socket as a session that ended: the page stops and says so
    expect(board.locator("#live-indicator")).to_have_text("Session ended", timeout=10_000)
    expect(board.get_by_role("link", name="Log in again")).to_be_visible()
    context.close()


def test_a_viewer_sees_no_new_order_link_and_is_refused_its_page(web_only, viewer, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, web_only, viewer)

    expect(page.get_by_role("link", name="Board")).to_be_visible()
    expect(page.get_by_role("link", name="New order")).to_have_count(0)
    response = page.goto(f"{web_only.base_url}/staff/orders/new")

    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("Your role may not do this")).to_be_visible()
    context.close()
