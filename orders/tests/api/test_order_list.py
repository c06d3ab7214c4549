import base64
from datetime import timedelta
from datetime import timezone as dt_timezone
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from orders.models import Order
from testkit.factories import ProductFactory, advance, order_for

from ..assertions import assert_problem

pytestmark = pytest.mark.django_db


def _ids(response) -> list[str]:
    return [order["id"] for order in response.json()["results"]]


def _aged(order: Order, *, days: int) -> Order:
    """Backdate ``order`` so that date filters and ordering have something to tell apart."""
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(days=days))
    order.refresh_from_db()
    return order


def test_lists_the_shops_orders_newest_first(api, shop, products):
    oldest = _aged(order_for(shop), days=3)
    middle = _aged(order_for(shop), days=2)
    newest = _aged(order_for(shop), days=1)

    response = api.get("/api/v1/orders")

    assert response.status_code == 200, response.content
    assert _ids(response) == [str(newest.id), str(middle.id), str(oldest.id)]
    assert response.json()["next"] is None
    assert response.json()["previous"] is None


def test_lists_each_order_with_its_lines(api, shop, products):
    order = order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1})

    response = api.get("/api/v1/orders")

    assert response.status_code == 200, response.content
    (listed,) = response.json()["results"]
    assert listed["id"] == str(order.id)
    assert listed["number"] == order.number
    assert listed["total"] == "59.70"
    assert [(line["sku"], line["quantity"]) for line in listed["lines"]] == [
        ("COFFEE-1KG", 2),
        ("MUG", 1),
    ]
    assert listed["allowed_actions"] == ["cancel"]


def test_never_lists_another_shops_orders(api, other_api, shop, other_shop, products):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    mine = order_for(shop)
    theirs = order_for(other_shop)

    mine_response = api.get("/api/v1/orders")
    their_response = other_api.get("/api/v1/orders")

    assert _ids(mine_response) == [str(mine.id)]
    assert _ids(their_response) == [str(theirs.id)]


def test_pages_through_orders_with_a_cursor(api, shop, products):
    orders = [_aged(order_for(shop), days=days) for days in range(5, 0, -1)]
    newest_first = [str(order.id) for order in reversed(orders)]

    first = api.get("/api/v1/orders", {"limit": 2})
    second = api.get(first.json()["next"])
    third = api.get(second.json()["next"])
    back = api.get(third.json()["previous"])

    assert _ids(first) == newest_first[0:2]
    assert _ids(second) == newest_first[2:4]
    assert _ids(third) == newest_first[4:5]
    assert third.json()["next"] is None
    assert _ids(back) == newest_first[2:4]
    assert "cursor=" in first.json()["next"]


def test_pages_orders_created_in_the_same_instant_without_loss_or_repeat(api, shop, products):
    orders = [order_for(shop) for _ in range(5)]
    Order.objects.update(created_at=timezone.now())

    seen = []
    response = api.get("/api/v1/orders", {"limit": 2})
    seen += _ids(response)
    while response.json()["next"]:
        response = api.get(response.json()["next"])
        seen += _ids(response)

    assert sorted(seen) == sorted(str(order.id) for order in orders)


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not-a-cursor", id="garbage-base64"),
        pytest.param(_cursor("o=-1"), id="negative-offset"),
        # each of these reached the database and was a 500
        pytest.param(_cursor("p="), id="empty-position"),
        pytest.param(_cursor("p=not-a-date"), id="position-not-a-date"),
        pytest.param(_cursor("p=2026-01-01%00"), id="position-with-nul"),
        pytest.param(_cursor("p=0001-01-01T00:00:00%2B01:00"), id="position-before-year-1"),
    ],
)
def test_rejects_a_forged_cursor_as_a_400_naming_it(api, shop, products, cursor):
    order_for(shop)

    response = api.get("/api/v1/orders", {"cursor": cursor})

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {
            "attr": "cursor",
            "code": "invalid",
            "detail": "Invalid cursor: use the `next` or `previous` link of a page as it is.",
        }
    ]


def test_a_hand_made_cursor_with_a_valid_position_pages_from_it(api, shop, products):
    older = _aged(order_for(shop), days=2)
    _aged(order_for(shop), days=0)
    # +23:00 is valid ISO 8601 but beyond PostgreSQL's ±15:59: compared in UTC instead
    position = (timezone.now() - timedelta(days=1)).astimezone(dt_timezone(timedelta(hours=23)))
    cursor = _cursor(urlencode({"p": position.isoformat()}))

    response = api.get("/api/v1/orders", {"cursor": cursor})

    assert response.status_code == 200, response.content
    assert _ids(response) == [str(older.id)]


def test_filters_by_status(api, shop, products):
    placed = order_for(shop)
    cancelled = advance(order_for(shop), to="cancelled")
    shipped = advance(order_for(shop), to="shipped")

    only_cancelled = api.get("/api/v1/orders", {"status": "cancelled"})
    cancelled_or_shipped = api.get("/api/v1/orders?status=cancelled&status=shipped")

    assert _ids(only_cancelled) == [str(cancelled.id)]
    assert sorted(_ids(cancelled_or_shipped)) == sorted([str(cancelled.id), str(shipped.id)])
    assert str(placed.id) not in _ids(cancelled_or_shipped)


def test_filters_by_creation_time(api, shop, products):
    old = _aged(order_for(shop), days=10)
    recent = _aged(order_for(shop), days=2)
    today = order_for(shop)
    five_days_ago = (timezone.now() - timedelta(days=5)).isoformat()
    one_day_ago = (timezone.now() - timedelta(days=1)).isoformat()

    after = api.get("/api/v1/orders", {"created_after": five_days_ago})
    before = api.get("/api/v1/orders", {"created_before": five_days_ago})
    between = api.get(
        "/api/v1/orders", {"created_after": five_days_ago, "created_before": one_day_ago}
    )

    assert _ids(after) == [str(today.id), str(recent.id)]
    assert _ids(before) == [str(old.id)]
    assert _ids(between) == [str(recent.id)]


def test_filters_by_email_ignoring_case(api, shop, products):
    ana = order_for(shop, email="ana@example.com")
    order_for(shop, email="bruno@example.com")

    response = api.get("/api/v1/orders", {"email": "ANA@example.com"})

    assert _ids(response) == [str(ana.id)]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            {"status": "lost"},
            {
                "attr": "status",
                "code": "invalid_choice",
                "detail": "Select a valid choice. lost is not one of the available choices.",
            },
        ),
        (
            {"created_after": "yesterday"},
            {"attr": "created_after", "code": "invalid", "detail": "Enter a valid date/time."},
        ),
        (
            {"created_before": "2026-13-45"},
            {"attr": "created_before", "code": "invalid", "detail": "Enter a valid date/time."},
        ),
    ],
)
def test_rejects_an_invalid_filter(api, shop, products, query, error):
    order_for(shop)

    response = api.get("/api/v1/orders", query)

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [error]


@pytest.mark.parametrize(
    ("limit", "detail"),
    [
        ("abc", "Must be a whole number."),
        ("0", "Must be between 1 and 200."),
        ("201", "Must be between 1 and 200."),
    ],
)
def test_rejects_a_limit_it_cannot_honour_instead_of_paging_by_default(
    api, shop, products, limit, detail
):
    order_for(shop)

    response = api.get("/api/v1/orders", {"limit": limit})

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [{"attr": "limit", "code": "invalid", "detail": detail}]


def test_rejects_an_email_filter_that_is_not_an_email(api, shop, products):
    order_for(shop)

    response = api.get("/api/v1/orders", {"email": "ana"})

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {"attr": "email", "code": "invalid", "detail": "Enter a valid email address."}
    ]


def test_reads_an_empty_filter_as_no_filter(api, shop, products):
    order = order_for(shop)

    response = api.get("/api/v1/orders?email=&created_after=&limit=")

    assert response.status_code == 200, response.content
    assert _ids(response) == [str(order.id)]


def test_filters_by_a_time_whose_offset_postgresql_cannot_store(api, shop, products):
    order = _aged(order_for(shop), days=2)
    # ISO 8601 allows offsets to ±23:59, PostgreSQL only to ±15:59: sent in UTC instead
    two_days_ago_far_west = (timezone.now() - timedelta(days=3)).astimezone(
        timezone.get_fixed_timezone(-(16 * 60 + 32))
    )

    response = api.get("/api/v1/orders", {"created_after": two_days_ago_far_west.isoformat()})

    assert response.status_code == 200, response.content
    assert _ids(response) == [str(order.id)]


def test_rejects_a_time_that_leaves_the_calendar_in_utc(api, shop, products):
    order_for(shop)

    response = api.get("/api/v1/orders", {"created_before": "9999-12-31T23:59:59-15:00"})

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {
            "attr": "created_before",
            "code": "invalid",
            "detail": "Enter a date-time within years 1 to 9999.",
        }
    ]


# --- lookups: by number, by the shop's reference, by the last change ------------------------------
def test_finds_an_order_by_its_number(api, shop, products):
    wanted, _other = order_for(shop), order_for(shop)

    response = api.get("/api/v1/orders", {"number": wanted.number})

    assert response.status_code == 200, response.content
    assert _ids(response) == [str(wanted.id)]


def test_finds_an_order_by_the_shops_reference(api, shop, products):
    wanted = order_for(shop, external_reference="chk_8812")
    order_for(shop, external_reference="chk_8813")
    order_for(shop)

    response = api.get("/api/v1/orders", {"external_reference": "chk_8812"})

    assert response.status_code == 200, response.content
    assert _ids(response) == [str(wanted.id)]
    assert response.json()["results"][0]["external_reference"] == "chk_8812"


def test_lookups_never_find_another_shops_order(api, shop, other_shop, products):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    theirs = order_for(other_shop, external_reference="chk_8812")

    by_number = api.get("/api/v1/orders", {"number": theirs.number})
    by_reference = api.get("/api/v1/orders", {"external_reference": "chk_8812"})

    assert (by_number.status_code, by_reference.status_code) == (200, 200)
    assert (_ids(by_number), _ids(by_reference)) == ([], [])


def test_filters_by_the_last_change_inclusive(api, shop, products):
    untouched, changed = order_for(shop), order_for(shop)
    earlier = timezone.now() - timedelta(hours=1)
    Order.objects.filter(pk=untouched.pk).update(updated_at=earlier - timedelta(days=1))
    Order.objects.filter(pk=changed.pk).update(updated_at=earlier)

    at = api.get("/api/v1/orders", {"updated_after": earlier.isoformat()})
    after = api.get(
        "/api/v1/orders", {"updated_after": (earlier + timedelta(microseconds=1)).isoformat()}
    )

    assert _ids(at) == [str(changed.id)]
    assert _ids(after) == []


def test_a_metadata_change_is_found_by_updated_after(api, shop, products):
    order = order_for(shop)
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(days=1))
    since = timezone.now()

    before = api.get("/api/v1/orders", {"updated_after": since.isoformat()})
    api.patch(f"/api/v1/orders/{order.id}", {"metadata": {"synced": "no"}}, format="json")
    after = api.get("/api/v1/orders", {"updated_after": since.isoformat()})

    assert (_ids(before), _ids(after)) == ([], [str(order.id)])


@pytest.mark.parametrize(
    ("query", "attr", "code"),
    [
        ({"updated_after": "yesterday"}, "updated_after", "invalid"),
        ({"updated_after": "2026-13-45T00:00:00Z"}, "updated_after", "invalid"),
        ({"updated_after": "9999-12-31T23:59:59-15:00"}, "updated_after", "invalid"),
        ({"number": "OF-\x00"}, "number", "null_characters_not_allowed"),
        ({"number": "OF-" + "X" * 18}, "number", "max_length"),
        ({"external_reference": "chk\x00"}, "external_reference", "null_characters_not_allowed"),
        ({"external_reference": "r" * 101}, "external_reference", "max_length"),
    ],
)
def test_rejects_a_bad_lookup_as_a_400_naming_it(api, shop, products, query, attr, code):
    order_for(shop)

    response = api.get("/api/v1/orders", query)

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [(attr, code)]
