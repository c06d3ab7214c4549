"""The API docs pages in a real browser: operations titled in words, with their examples,
and nothing fetched from another origin (README: "no CDN")."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def _open(browser, url: str):
    """Open ``url`` in a fresh page, recording the origin of every request it makes."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    origins = set()
    page.on("request", lambda request: origins.add(_origin(request.url)))
    page.goto(url)
    return page, origins


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"


def test_the_docs_pages_title_operations_in_words_and_ask_nothing_of_another_origin(
    web_only, browser, artifacts
):
    # ReDoc: the summaries are the operations' headings, the footer's logo is not fetched
    redoc, redoc_origins = _open(browser, f"{web_only.base_url}/api/redoc/")
    carriers = redoc.get_by_role("heading", name="Report a parcel's progress (carriers)")
    expect(carriers).to_be_visible()
    redoc.get_by_role("menuitem", name="orders", exact=True).click()
    expect(redoc.get_by_role("menuitem", name="Place an order", exact=True)).to_be_visible()
    expect(redoc.get_by_text("API docs by Redocly")).to_be_visible()
    redoc.wait_for_load_state("networkidle")
    redoc.screenshot(path=artifacts / "api-redoc.png")
    assert redoc.get_by_text("carrier_events_create").count() == 0

    # Swagger UI: the summary beside the path, the request example in the opened operation
    swagger, swagger_origins = _open(browser, f"{web_only.base_url}/api/docs/")
    ship = swagger.locator(".opblock", has_text="/api/v1/orders/{order_id}/ship")
    expect(ship.get_by_text("Ship an order in one parcel")).to_be_visible()
    ship.locator(".opblock-summary").first.click()
    expect(ship.get_by_text('"JD014600006281"').first).to_be_visible()
    swagger.wait_for_load_state("networkidle")
    swagger.screenshot(path=artifacts / "api-swagger.png")

    assert redoc_origins - {"data:", "blob:"} == {web_only.base_url}
    assert swagger_origins - {"data:", "blob:"} == {web_only.base_url}
