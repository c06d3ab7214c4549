"""The staff pages and the public page, rendered by Django (the browser tests drive them live)."""

import pytest

from orders import services as orders_services
from tracking.models import TrackedOrder

STAFF = orders_services.Actor(kind="staff", name="ana")


@pytest.mark.parametrize("path", ["/staff/", "/staff/orders/{order_id}", "/staff/orders/new"])
def test_staff_pages_need_a_staff_login(client, place, path):
    order = place()

    response = client.get(path.format(order_id=order.id))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_board_lists_orders_with_counts_and_filters(staff_client, place, settle, shop):
    first = place(email="first@example.com")
    second = place(email="second@example.com")
    settle()
    orders_services.order_cancel(order_id=first.id, shop=None, actor=STAFF)
    settle()

    response = staff_client.get("/staff/", {"status": "confirmed"})

    assert response.status_code == 200
    snapshot = response.context["snapshot"]
    assert [row["number"] for row in snapshot["rows"]] == [second.number]
    assert snapshot["counts"] == {"confirmed": 1, "cancelled": 1}
    assert b'data-socket="/ws/board/?status=confirmed"' in response.content
    searched = staff_client.get("/staff/", {"q": "FIRST@", "shop": shop.id}).context["snapshot"]
    assert [row["number"] for row in searched["rows"]] == [first.number]


def test_order_page_shows_customer_lines_payment_invoice_and_timeline(staff_client, place, settle):
    order = place(lines={"COFFEE-1KG": 2})
    settle()

    response = staff_client.get(f"/staff/orders/{order.id}")

    assert response.status_code == 200
    page = response.content.decode()
    for text in ("Ana Souza", "ana@example.com", "Rua A 1", "COFFEE-1KG", "49.80", "Captured"):
        assert text in page
    invoice = response.context["invoices"][0]
    assert f"/staff/payments/invoices/{invoice.invoice_id}" in page
    assert f"/staff/orders/{order.id}/ship" in page
    assert "Cancel and refund…" in page
    assert f"https://track.example.com/track/{order.tracking_token}" in page
    timeline = response.context["timeline"]
    assert timeline["order"]["status"] == "confirmed"
    assert len(timeline["entries"]) == 6


def test_an_unknown_order_page_is_404(staff_client, db):
    response = staff_client.get("/staff/orders/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404


def test_public_page_shows_status_and_progress_and_nothing_private(client, place, settle):
    order = place()
    settle()

    response = client.get(f"/track/{order.tracking_token}")

    assert response.status_code == 200
    assert response["Referrer-Policy"] == "no-referrer"
    page = response.content.decode()
    assert order.number in page
    assert "Confirmed" in page
    for private in ("ana@example.com", "Ana Souza", "Rua A 1", "payment_captured", "24.90"):
        assert private not in page
    assert [e["status"] for e in response.context["snapshot"]["entries"]] == [
        "placed",
        "reserved",
        "paid",
        "confirmed",
    ]


def test_public_page_answers_before_the_first_event_is_recorded(client, place):
    order = place()

    response = client.get(f"/track/{order.tracking_token}")

    assert response.status_code == 200
    assert TrackedOrder.objects.filter(pk=order.id).exists()


def test_an_unknown_token_is_404(client, db):
    assert client.get("/track/nope").status_code == 404


@pytest.mark.parametrize("token", ["%00", "abc%00def", "x" * 65, "%C3%BC", "a%0Ab"])
def test_a_junk_token_is_the_404_page_not_an_error(client, place, token):
    place()

    response = client.get(f"/track/{token}")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {"q": "\x00"},
        {"q": "OF-\x00", "status": "\x00"},
        {"shop": "\x00"},
        {"shop": "99999999999999999999999"},
        {"shop": "\u0661\u0662"},  # Arabic-Indic digits, which int() would take
        {"shop": "-1", "status": "nope", "q": "\x01\x02\x7f"},
    ],
)
def test_junk_board_filters_are_ignored_never_an_error(staff_client, place, settle, query):
    order = place()
    settle()

    response = staff_client.get("/staff/", query)

    assert response.status_code == 200
    assert [row["number"] for row in response.context["snapshot"]["rows"]] == [order.number]
    assert response.context["status"] == ""
