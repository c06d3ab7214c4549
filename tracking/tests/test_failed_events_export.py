"""The stuck work queue as CSV: every dead letter the failed event handling page's filters
match, with the order's number, safe in a spreadsheet, for the view role only."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orderflow import views as kernel_views
from orderflow.models import Delivery, DeliveryStatus

from .conftest import staff_member
from .test_failed_events import _dead

EXPORT = "/staff/failed-events.csv"
HEADER = [
    "id",
    "event_id",
    "event_type",
    "subscriber",
    "shop_id",
    "order_number",
    "attempts",
    "failed_at",
    "last_error",
]


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="failed-events-')
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == HEADER
    return rows[1:]


def test_the_export_holds_every_dead_letter_not_the_pages_few(
    staff_client, place, settle, monkeypatch
):
    first = _dead(place, settle, "orders.reserve_stock_on_order_placed")
    second = _dead(place, settle, "payments.charge_on_stock_reserved")
    monkeypatch.setattr(kernel_views, "FAILED_EVENTS_SHOWN", 1)
    assert len(staff_client.get("/staff/failed-events").context["letters"]) == 1

    rows = _rows(staff_client.get(EXPORT))

    assert [row[0] for row in rows] == [str(first.pk), str(second.pk)]  # oldest first
    letter = Delivery.objects.select_related("event").get(pk=first.pk)
    assert rows[0] == [
        str(letter.pk),
        str(letter.event_id),
        "order.placed",
        "orders.reserve_stock_on_order_placed",
        letter.event.tenant_id,
        letter.event.data["number"],
        "10",
        letter.dead_at.isoformat(),
        "boom",
    ]
    assert rows[1][2:4] == ["stock.reserved", "payments.charge_on_stock_reserved"]
    assert rows[1][5] == Delivery.objects.get(pk=second.pk).event.data["number"]


def test_a_payment_events_letter_names_the_order_from_its_data(staff_client, place, settle):
    order = place()
    settle()
    delivery = Delivery.objects.get(
        event__type="payment.captured", subscriber="orders.confirm_order_on_payment_captured"
    )
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DEAD, dead_at=timezone.now(), attempts=3, last_error="x"
    )

    (row,) = _rows(staff_client.get(EXPORT))

    assert row[2:6] == [
        "payment.captured",
        "orders.confirm_order_on_payment_captured",
        str(order.shop_id),
        order.number,
    ]


def test_the_export_keeps_the_pages_filters_and_drops_junk(staff_client, place, settle):
    first = _dead(place, settle, "orders.reserve_stock_on_order_placed")
    second = _dead(place, settle, "payments.charge_on_stock_reserved")
    shop = str(Delivery.objects.get(pk=first.pk).event.tenant_id)

    by_subscriber = _rows(
        staff_client.get(EXPORT, {"subscriber": "payments.charge_on_stock_reserved"})
    )
    by_type = _rows(staff_client.get(EXPORT, {"event_type": "order.placed", "shop": shop}))
    other_shop = _rows(staff_client.get(EXPORT, {"shop": "999"}))
    since = _rows(staff_client.get(EXPORT, {"since": timezone.now().date().isoformat()}))
    junk = _rows(staff_client.get(EXPORT, {"subscriber": "\x00", "shop": "\x00"}))

    assert [row[0] for row in by_subscriber] == [str(second.pk)]
    assert [row[0] for row in by_type] == [str(first.pk)]
    assert other_shop == []
    assert len(since) == len(junk) == 2


@pytest.mark.parametrize("since", ["2026-02-31", "yesterday", "0000-01-01", "2026-01-01\x00"])
def test_a_date_that_is_no_date_is_refused_with_a_message(staff_client, place, settle, since):
    _dead(place, settle, "orders.reserve_stock_on_order_placed")

    response = staff_client.get(EXPORT, {"since": since})

    assert response.status_code == 400
    assert response.content.decode() == (
        "Not exported: the date filter is not a date; use one like 2026-01-31."
    )


def test_a_cell_a_spreadsheet_would_run_is_kept_as_text(staff_client, place, settle):
    letter = _dead(place, settle, "orders.reserve_stock_on_order_placed")
    Delivery.objects.filter(pk=letter.pk).update(last_error='=HYPERLINK("http://evil","x")')

    (row,) = _rows(staff_client.get(EXPORT))

    assert row[8] == '\'=HYPERLINK("http://evil","x")'


def test_the_export_costs_the_same_queries_for_one_letter_or_many(staff_client, place, settle):
    _dead(place, settle, "orders.reserve_stock_on_order_placed")
    staff_client.get(EXPORT)  # the session's and the permissions' caches, warmed

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            _rows(staff_client.get(EXPORT))
        return len(captured)

    one = queries()
    _dead(place, settle, "payments.charge_on_stock_reserved")
    _dead(place, settle, "orders.reserve_stock_on_order_placed")

    assert queries() == one


def test_the_export_needs_the_view_role(client, place, settle):
    _dead(place, settle, "orders.reserve_stock_on_order_placed")
    assert client.get(EXPORT).status_code == 302  # not logged in: the login page

    client.force_login(staff_member("nobody"))  # staff, but no role

    response = client.get(EXPORT)
    assert response.status_code == 403
    assert b"boom" not in response.content
    client.force_login(staff_member("vera", "viewer"))
    assert len(_rows(client.get(EXPORT))) == 1
    assert client.post(EXPORT).status_code == 405


def test_the_page_links_the_export_of_what_it_shows(staff_client):
    page = staff_client.get(
        "/staff/failed-events",
        {"subscriber": "orders.x", "shop": "3", "since": "2026-01-31", "event_type": ""},
    ).content.decode()
    ignored = staff_client.get("/staff/failed-events", {"since": "yesterday"}).content.decode()

    assert f'href="{EXPORT}?subscriber=orders.x&amp;shop=3&amp;since=2026-01-31"' in page
    assert f'href="{EXPORT}" download' in ignored  # the date the page ignored is left out


def test_the_board_export_of_the_stuck_queue_is_this_csv(staff_client):
    one_shop = staff_client.get("/staff/orders.csv", {"queue": "stuck", "shop": "3"})
    every_shop = staff_client.get("/staff/orders.csv", {"queue": "stuck", "shop": "x"})

    assert (one_shop.status_code, one_shop["Location"]) == (302, f"{EXPORT}?shop=3")
    assert (every_shop.status_code, every_shop["Location"]) == (302, EXPORT)
