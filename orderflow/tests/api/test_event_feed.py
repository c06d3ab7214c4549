"""GET /api/v1/events: a shop's own relayed events, in feed order, with a position cursor."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from orderflow.events.relay import relay_batch
from orderflow.models import OutboxEvent
from orders import services
from testkit.factories import ProductFactory, ShopFactory, api_key_for

pytestmark = pytest.mark.django_db

FEED = "/api/v1/events"
PROBLEM = "application/problem+json"


@pytest.fixture
def shop():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="MUG", price="9.90")
    return shop


@pytest.fixture
def other_shop():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="MUG", price="9.90")
    return shop


def client_for(shop) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(shop)}")
    return client


@pytest.fixture
def api(shop) -> APIClient:
    return client_for(shop)


def place(shop):
    return services.order_place(
        shop=shop,
        customer=services.CustomerInput(name="Ana Souza", email="ana@example.com"),
        shipping_address={"line1": "Rua A 1", "city": "Recife", "postal_code": "50000-000"},
        lines=[services.LineInput(sku="MUG", quantity=1)],
    )


def cancel(order):
    return services.order_cancel(
        order_id=order.pk, shop=order.shop, actor=services.Actor(kind="staff", name="ana")
    )


def positions(response) -> list[int]:
    return [event["position"] for event in response.json()["results"]]


def test_a_shop_sees_only_its_own_events_in_feed_order(api, shop, other_shop):
    first = place(shop)
    place(other_shop)
    second = place(shop)
    cancel(first)
    relay_batch()

    response = api.get(FEED)

    assert response.status_code == 200
    body = response.json()
    assert [(e["type"], e["aggregate_id"], e["position"]) for e in body["results"]] == [
        ("order.placed", str(first.pk), 1),
        ("order.placed", str(second.pk), 3),
        ("order.cancelled", str(first.pk), 4),
    ]
    assert (body["next"], body["last_position"]) == (None, 4)
    row = OutboxEvent.objects.get(type="order.cancelled")
    assert body["results"][2] == {
        "event_id": str(row.event_id),
        "type": "order.cancelled",
        "version": 1,
        "occurred_at": row.occurred_at.isoformat().replace("+00:00", "Z"),
        "aggregate": "order",
        "aggregate_id": str(first.pk),
        "sequence": 2,
        "position": 4,
        "correlation_id": row.correlation_id,
        "causation_id": "",
        "data": {
            "order_id": str(first.pk),
            "shop_id": shop.pk,
            "number": first.number,
            "previous_status": "placed",
            "reason": "",
            "cancelled_by": "staff:ana",
            "status": "cancelled",
            "actor": "staff:ana",
        },
    }


def test_the_other_shop_sees_only_its_own(shop, other_shop):
    place(shop)
    theirs = place(other_shop)
    relay_batch()

    response = client_for(other_shop).get(FEED)

    assert [e["aggregate_id"] for e in response.json()["results"]] == [str(theirs.pk)]


def test_after_continues_exactly_past_the_cursor(api, shop):
    for _ in range(4):
        place(shop)
    relay_batch()

    continued = api.get(FEED, {"after": 2})
    caught_up = api.get(FEED, {"after": 4})

    assert positions(continued) == [3, 4]
    assert continued.json()["last_position"] == 4
    assert caught_up.json() == {"results": [], "next": None, "last_position": 4}


def test_limit_pages_and_next_links_the_following_page(api, shop):
    for _ in range(5):
        place(shop)
    relay_batch()

    pages = [api.get(FEED, {"limit": 2})]
    while pages[-1].json()["next"]:
        pages.append(api.get(pages[-1].json()["next"]))

    assert [positions(page) for page in pages] == [[1, 2], [3, 4], [5]]
    link = urlsplit(pages[0].json()["next"])
    assert (link.scheme, link.netloc, link.path) == ("http", "testserver", FEED)
    assert parse_qs(link.query) == {"limit": ["2"], "after": ["2"]}
    assert [page.json()["last_position"] for page in pages] == [2, 4, 5]


def test_a_full_last_page_links_to_an_empty_one(api, shop):
    for _ in range(2):
        place(shop)
    relay_batch()

    full = api.get(FEED, {"limit": 2})
    empty = api.get(full.json()["next"])

    assert positions(full) == [1, 2]
    assert empty.json() == {"results": [], "next": None, "last_position": 2}


def test_type_filters_and_can_be_repeated(api, shop):
    first = place(shop)
    place(shop)
    cancel(first)
    relay_batch()

    cancelled = api.get(FEED, {"type": "order.cancelled"})
    both = api.get(f"{FEED}?type=order.cancelled&type=order.placed")
    none_yet = api.get(FEED, {"type": "shipment.delivered"})

    assert [e["type"] for e in cancelled.json()["results"]] == ["order.cancelled"]
    assert positions(both) == [1, 2, 3]
    assert none_yet.json() == {"results": [], "next": None, "last_position": 0}


def test_an_unknown_type_is_a_400_naming_it_not_an_empty_page(api, shop):
    place(shop)
    relay_batch()

    response = api.get(f"{FEED}?type=order.placed&type=nope&type=order.shiped")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == "/api/problems/validation-error"
    assert body["errors"] == [
        {
            "attr": "type",
            "code": "invalid_choice",
            "detail": "Unknown event type 'nope'; GET /api/v1/event-types lists them.",
        },
        {
            "attr": "type",
            "code": "invalid_choice",
            "detail": "Unknown event type 'order.shiped'; GET /api/v1/event-types lists them.",
        },
    ]


def test_next_link_keeps_the_type_filter(api, shop):
    first = place(shop)
    place(shop)
    cancel(first)
    relay_batch()

    page = api.get(FEED, {"type": "order.placed", "limit": 1})
    following = api.get(page.json()["next"])

    assert parse_qs(urlsplit(page.json()["next"]).query) == {
        "type": ["order.placed"],
        "limit": ["1"],
        "after": ["1"],
    }
    assert [(e["type"], e["position"]) for e in following.json()["results"]] == [
        ("order.placed", 2)
    ]


def test_events_not_relayed_yet_are_not_shown(api, shop):
    place(shop)
    relay_batch()
    place(shop)  # committed, not yet relayed: it has no position

    before_relay = api.get(FEED)
    relay_batch()
    after_relay = api.get(FEED, {"after": before_relay.json()["last_position"]})

    assert positions(before_relay) == [1]
    assert positions(after_relay) == [2]


def test_the_feed_costs_the_same_queries_however_many_events(api, shop):
    place(shop)
    relay_batch()
    api.get(FEED)  # the key's first use is looked up once, then remembered
    with CaptureQueriesContext(connection) as one_event:
        api.get(FEED)
    for _ in range(10):
        place(shop)
    relay_batch()

    with CaptureQueriesContext(connection) as eleven_events:
        response = api.get(FEED)

    assert len(response.json()["results"]) == 11
    assert len(eleven_events) == len(one_event)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"after": "abc"}, ("after", "Must be a whole number.")),
        ({"after": "-1"}, ("after", "Must be between 0 and 9223372036854775807.")),
        # past a bigint: PostgreSQL refused the comparison, a 500
        (
            {"after": "99999999999999999999"},
            ("after", "Must be between 0 and 9223372036854775807."),
        ),
        ({"after": str(2**63)}, ("after", "Must be between 0 and 9223372036854775807.")),
        ({"limit": "0"}, ("limit", "Must be between 1 and 500.")),
        ({"limit": "501"}, ("limit", "Must be between 1 and 500.")),
        ({"limit": "2.5"}, ("limit", "Must be a whole number.")),
        # PostgreSQL text cannot hold NUL: this was a 500
        ({"type": "order.placed\x00"}, ("type", "Must not contain NUL characters.")),
    ],
)
def test_an_invalid_cursor_or_limit_is_a_validation_problem(api, params, error):
    response = api.get(FEED, params)

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == "/api/problems/validation-error"
    assert body["errors"] == [{"attr": error[0], "code": "invalid", "detail": error[1]}]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-key"])
def test_without_a_valid_key_the_feed_is_refused(shop, authorization):
    place(shop)
    relay_batch()
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)

    response = client.get(FEED)

    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == "/api/problems/not-authenticated"
    assert "results" not in body
