"""The board's view as CSV: every order its filters match, safe in a spreadsheet."""

import csv
import io

import pytest
from django.contrib.auth.models import User

from .test_board import many, tracked

pytestmark = pytest.mark.django_db


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    assert response.streaming  # a chunk of rows at a time, never the whole set in memory
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_the_export_holds_every_matching_order_not_one_page(staff_client):
    many(120)
    tracked(200, status="shipped", carrier="DHL", tracking_number="JD1", number="OF-SHIP")

    rows = _csv(staff_client.get("/staff/orders.csv"))

    assert rows[0] == [
        "order_number",
        "shop",
        "status",
        "customer_name",
        "customer_email",
        "total",
        "currency",
        "carrier",
        "tracking_number",
        "placed_at",
        "updated_at",
    ]
    assert len(rows) == 1 + 121
    assert rows[1][:9] == [
        "OF-SHIP",
        "Demo Coffee",
        "shipped",
        "Customer 200",
        "c200@example.com",
        "24.90",
        "EUR",
        "DHL",
        "JD1",
    ]


def test_the_export_keeps_the_boards_filters(staff_client):
    many(5)
    tracked(50, status="shipped", customer_name="Beatriz Lima")
    tracked(51, status="shipped", shop_id=2, shop_name="Other")

    rows = _csv(staff_client.get("/staff/orders.csv", {"status": "shipped", "shop": "1"}))
    searched = _csv(staff_client.get("/staff/orders.csv", {"q": "beatriz"}))
    junk = _csv(staff_client.get("/staff/orders.csv", {"status": "nope", "shop": "x\x00"}))

    assert [row[0] for row in rows[1:]] == ["OF-000050"]
    assert [row[0] for row in searched[1:]] == ["OF-000050"]
    assert len(junk) == 1 + 7  # filters nobody typed are ignored, as on the board


def test_a_cell_a_spreadsheet_would_run_is_kept_as_text(staff_client):
    tracked(1, customer_name='=HYPERLINK("http://evil")', customer_email="@x@example.com")

    (row,) = _csv(staff_client.get("/staff/orders.csv"))[1:]

    assert row[3] == '\'=HYPERLINK("http://evil")'
    assert row[4] == "'@x@example.com"


def test_the_board_links_the_export_of_its_view(staff_client):
    page = staff_client.get("/staff/", {"status": "shipped", "q": "ana"}).content.decode()

    assert 'href="/staff/orders.csv?status=shipped&amp;q=ana"' in page


def test_the_export_needs_the_staff_role(client):
    tracked(1)
    user = User.objects.create_user("nobody", password="x-long-1", is_staff=True)
    client.force_login(user)

    assert client.get("/staff/orders.csv").status_code == 403
