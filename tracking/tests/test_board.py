"""The board's paging, totals and search, the page's queries, and the tracking row's name."""

import importlib
import re
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import services as orders_services
from tracking import selectors
from tracking.models import TrackedOrder

STAFF = orders_services.Actor(kind="staff", name="ana")
START = timezone.now() - timedelta(days=1)
DASH = "\u2013"  # the range's en dash


def tracked(n: int, **fields) -> TrackedOrder:
    """A tracking row placed ``n`` minutes after START: a higher n is a newer order."""
    placed_at = START + timedelta(minutes=n)
    values = {
        "order_id": uuid4(),
        "shop_id": 1,
        "shop_name": "Demo Coffee",
        "number": f"OF-{n:06d}",
        "customer_name": f"Customer {n}",
        "customer_email": f"c{n}@example.com",
        "total": Decimal("24.90"),
        "currency": "EUR",
        "tracking_token": f"token-{uuid4().hex}",
        "status": "confirmed",
        "sequence": 4,
        "placed_at": placed_at,
        "updated_at": placed_at,
        **fields,
    }
    return TrackedOrder.objects.create(**values)


def many(count: int, **fields) -> list[TrackedOrder]:
    return [tracked(n, **fields) for n in range(1, count + 1)]


def numbers(rows) -> list[str]:
    return [row["number"] for row in rows]


# --- paging ----------------------------------------------------------------------------------
def test_pages_hold_fifty_newest_first_with_the_total_and_range(staff_client):
    many(120)

    first = staff_client.get("/staff/")
    last = staff_client.get("/staff/", {"page": "3"})

    snapshot = first.context["snapshot"]
    assert numbers(snapshot["rows"]) == [f"OF-{n:06d}" for n in range(120, 70, -1)]
    assert snapshot["page"] == {
        "number": 1,
        "pages": 3,
        "size": 50,
        "total": 120,
        "first": 1,
        "last": 50,
        "newer": 0,
        "until": "",
    }
    assert f"Showing 1{DASH}50 of 120 · page 1 of 3" in first.content.decode()
    assert numbers(last.context["snapshot"]["rows"]) == [f"OF-{n:06d}" for n in range(20, 0, -1)]
    assert (last.context["paging"]["first"], last.context["paging"]["last"]) == (101, 120)
    assert f"Showing 101{DASH}120 of 120 · page 3 of 3" in last.content.decode()


def test_pages_neither_repeat_nor_skip_an_order_placed_at_the_same_moment(staff_client):
    same = START
    for n in range(75):
        tracked(n, placed_at=same, updated_at=same)

    seen = [
        row["order_id"]
        for page in ("1", "2")
        for row in staff_client.get("/staff/", {"page": page}).context["snapshot"]["rows"]
    ]

    assert len(seen) == 75
    assert len(set(seen)) == 75


def test_page_links_keep_the_filters_and_name_no_page_past_the_ends(staff_client):
    many(120, customer_email="same@example.com")

    middle = staff_client.get("/staff/", {"page": "2", "status": "confirmed", "q": "same@"})

    links = {link["rel"]: link["url"] for link in middle.context["page_links"]}
    assert links == {
        "first": "?status=confirmed&q=same%40",
        "previous": "?status=confirmed&q=same%40",
        "next": "?status=confirmed&q=same%40&page=3",
        "last": "?status=confirmed&q=same%40&page=3",
    }
    page = middle.content.decode()
    assert 'href="?status=confirmed&amp;q=same%40&amp;page=3">Last</a>' in page
    bare = staff_client.get("/staff/", {"page": "2"}).context
    assert [link["url"] for link in bare["page_links"]] == [
        "/staff/",
        "/staff/",
        "?page=3",
        "?page=3",
    ]
    assert bare["newest_url"] == "/staff/"
    first = staff_client.get("/staff/", {"status": "confirmed"}).context["page_links"]
    assert [link["url"] for link in first[:2]] == [None, None]
    assert (
        'data-rel="first" aria-disabled="true">First</a>'
        in staff_client.get("/staff/").content.decode()
    )


@pytest.mark.parametrize("asked", ["4", "99", "99999999999999999999", "9" * 30])
def test_a_page_past_the_end_shows_the_last_page(staff_client, asked):
    many(120)

    response = staff_client.get("/staff/", {"page": asked})

    assert response.status_code == 200
    assert response.context["paging"]["number"] == 3
    assert numbers(response.context["snapshot"]["rows"])[0] == "OF-000020"


@pytest.mark.parametrize(
    "junk", ["0", "-1", "abc", "\x00", "1.5", "\u0662", "1e3", " 2", "9" * 31, "2\x00", ""]
)
def test_junk_in_page_is_the_first_page_never_an_error(staff_client, junk):
    many(60)

    response = staff_client.get("/staff/", {"page": junk})

    assert response.status_code == 200
    assert response.context["paging"]["number"] == 1
    assert len(response.context["snapshot"]["rows"]) == 50


def test_an_empty_board_is_one_page_saying_so(staff_client):
    response = staff_client.get("/staff/", {"page": "7"})

    assert response.context["paging"] == {
        "number": 1,
        "pages": 1,
        "size": 50,
        "total": 0,
        "first": 0,
        "last": 0,
        "newer": 0,
        "until": "",
    }
    assert '<p id="board-range" class="range">No orders</p>' in response.content.decode()


def test_totals_follow_the_filters_and_the_tiles_count_the_shop(staff_client):
    many(60)
    for n in range(61, 71):
        tracked(n, status="cancelled")
    tracked(71, shop_id=2, shop_name="Other")

    cancelled = staff_client.get("/staff/", {"status": "cancelled", "shop": "1"})

    assert cancelled.context["paging"]["total"] == 10
    assert cancelled.context["snapshot"]["counts"] == {"confirmed": 60, "cancelled": 10}
    assert cancelled.context["total"] == 70  # the "All" tile of the shop
    everything = staff_client.get("/staff/").context
    assert everything["paging"]["total"] == everything["total"] == 71


def test_totals_count_the_search_and_the_queue_within_the_shop(staff_client):
    many(55)  # confirmed: in the "to ship" queue
    for n in range(56, 61):
        tracked(n, status="shipped", customer_name=f"Beatriz {n}")
    tracked(61, customer_name="Beatriz Other", shop_id=2, shop_name="Other")

    searched = staff_client.get("/staff/", {"q": "beatriz", "shop": "1"}).context
    queued = staff_client.get("/staff/", {"queue": "to-ship", "shop": "1", "page": "2"}).context
    nothing = staff_client.get("/staff/", {"q": "nobody"}).context

    assert (searched["paging"]["total"], len(searched["snapshot"]["rows"])) == (5, 5)
    assert (queued["paging"]["total"], queued["paging"]["pages"]) == (55, 2)
    assert len(queued["snapshot"]["rows"]) == 5
    assert nothing["paging"]["total"] == 0
    assert nothing["total"] == 61  # the tiles still count every order


def test_a_later_page_stays_anchored_and_counts_the_orders_placed_since(db):
    many(120)
    until = timezone.now()
    before = selectors.board_snapshot(page=2, until=until)

    for n in range(3):
        tracked(1000 + n, placed_at=until + timedelta(seconds=n + 1))
    after = selectors.board_snapshot(page=2, until=until)
    unanchored = selectors.board_snapshot(page=2)

    assert numbers(after["rows"]) == numbers(before["rows"])
    assert after["page"]["newer"] == 3
    assert after["page"]["total"] == 120
    assert after["page"]["until"] == until.isoformat()
    assert numbers(unanchored["rows"])[3:] == numbers(before["rows"])[:-3]  # what it avoids
    first = selectors.board_snapshot(page=1, until=until)
    assert first["page"]["total"] == 123
    assert (first["page"]["newer"], first["page"]["until"]) == (0, "")
    assert numbers(first["rows"])[0] == "OF-001002"


def test_the_socket_path_names_a_later_page_and_its_anchor(staff_client):
    many(60)

    page_two = staff_client.get("/staff/", {"page": "2", "q": "OF-"})
    page_one = staff_client.get("/staff/", {"page": "1"})

    until = page_two.context["paging"]["until"]
    assert until
    path = page_two.context["socket_path"]
    assert path.startswith("/ws/board/?q=OF-&page=2&until=")
    assert page_one.context["socket_path"] == "/ws/board/"


# --- search ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "typed"),
    [
        ("number", "OF-777123", "of-7771"),
        ("customer_name", "Beatriz Lima", "BEATRIZ l"),
        ("customer_email", "Bia.Lima@Example.com", "bia.lima@"),
        ("tracking_number", "DPUX00042", "dpux0004"),
    ],
)
def test_search_matches_the_start_of_each_field_ignoring_case(staff_client, field, value, typed):
    many(5)
    wanted = tracked(50, **{field: value})

    found = staff_client.get("/staff/", {"q": typed}).context

    assert [row["order_id"] for row in found["snapshot"]["rows"]] == [str(wanted.order_id)]
    assert found["paging"]["total"] == 1


def test_search_is_a_prefix_not_a_substring(staff_client):
    tracked(1, customer_name="Ana Souza", customer_email="ana@example.com")

    assert staff_client.get("/staff/", {"q": "Souza"}).context["paging"]["total"] == 0
    assert staff_client.get("/staff/", {"q": "example.com"}).context["paging"]["total"] == 0
    assert staff_client.get("/staff/", {"q": "ana s"}).context["paging"]["total"] == 1


@pytest.mark.parametrize("junk", ["%", "_", "\\", "'; drop table x; --", "Z\x00Z", "😀" * 200])
def test_search_junk_matches_nothing_and_is_never_an_error(staff_client, junk):
    many(3)

    response = staff_client.get("/staff/", {"q": junk})

    assert response.status_code == 200
    assert response.context["snapshot"]["rows"] == []
    assert response.context["paging"]["total"] == 0


def test_search_indexes_serve_a_prefix_search(db):
    """The plan may use the expression indexes (the table is tiny; only the choice is checked)."""
    many(3)
    orders = selectors.board_orders(query="of-0000")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = orders.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    for index in ("tracked_search_number", "tracked_search_name", "tracked_search_email"):
        assert index in plan, plan
    assert "tracked_search_parcel" in plan, plan


# --- the board's queries ---------------------------------------------------------------------
def board_queries(client, params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/staff/", params).status_code == 200
    return len(queries)


def test_the_board_runs_a_fixed_number_of_queries_whatever_the_page(staff_client, settings):
    many(3)
    staff_client.get("/staff/")  # warm the session and permission caches of the first request
    few = board_queries(staff_client, {})
    many_more = [tracked(n) for n in range(4, 121)]
    assert len(many_more) == 117

    counts = {
        "first page": board_queries(staff_client, {}),
        "later page": board_queries(staff_client, {"page": "2"}),
        "last page": board_queries(staff_client, {"page": "999"}),
        "search": board_queries(staff_client, {"q": "c1", "status": "confirmed", "shop": "1"}),
        "queue": board_queries(staff_client, {"queue": "to-ship", "shop": "1"}),
    }

    # the session and user (2), the permission (2), shops, watermark, totals, rows, and the
    # counts per status and per queue with stuck work's (1: a UNION ALL)
    assert few == 9
    assert counts == dict.fromkeys(counts, 9)


def test_the_board_queries_do_not_grow_with_the_page_size(staff_client, monkeypatch):
    many(120)
    monkeypatch.setattr(selectors, "PAGE_SIZE", 5)
    small = board_queries(staff_client, {"page": "2"})
    monkeypatch.setattr(selectors, "PAGE_SIZE", 100)
    large = board_queries(staff_client, {"page": "2"})

    assert small == large


# --- the projector keeps the customer's name -------------------------------------------------
def test_the_tracking_row_takes_the_customers_name_and_its_correction(place, settle):
    order = place()
    settle()
    assert TrackedOrder.objects.get(pk=order.id).customer_name == "Ana Souza"

    orders_services.order_change_customer(
        order_id=order.id, shop=None, actor=STAFF, name="Ana Lima", email="ana.lima@example.com"
    )
    settle()

    row = TrackedOrder.objects.get(pk=order.id)
    assert (row.customer_name, row.customer_email) == ("Ana Lima", "ana.lima@example.com")
    found = selectors.board_snapshot(query="ana l")
    assert [r["customer_name"] for r in found["rows"]] == ["Ana Lima"]


def test_the_migration_names_rows_recorded_before_it_from_the_feed(place, settle):
    migration = importlib.import_module("tracking.migrations.0004_board_search")
    order = place()
    settle()
    orders_services.order_change_customer(
        order_id=order.id, shop=None, actor=STAFF, name="Ana Lima", email="ana@example.com"
    )
    settle()
    unnamed = tracked(1)
    TrackedOrder.objects.update(customer_name="")

    migration.names_from_the_feed(apps, None)

    assert TrackedOrder.objects.get(pk=order.id).customer_name == "Ana Lima"  # the newest
    assert TrackedOrder.objects.get(pk=unnamed.pk).customer_name == ""  # no event names it


# --- the failed event handling page ----------------------------------------------------------
def test_the_old_failed_deliveries_address_redirects_permanently_keeping_the_query(client):
    response = client.get("/staff/failed-deliveries", {"subscriber": "orders.x", "since": "x"})

    assert response.status_code == 301
    assert response["Location"] == "/staff/failed-events?subscriber=orders.x&since=x"


def test_the_navigation_names_failed_event_handling(staff_client):
    page = staff_client.get("/staff/").content.decode()

    assert re.search(r'<a href="/staff/failed-events">Failed event handling</a>', page)
    assert "Failed deliveries" not in page
    failed = staff_client.get("/staff/failed-events")
    assert failed.status_code == 200
    assert "<h1>Failed event handling</h1>" in failed.content.decode()
    assert 'href="/staff/failed-events" aria-current="page"' in failed.content.decode()
