"""What one shop may ask of the shared webhook senders: endpoints, tests and replays."""

import threading
import time
from types import SimpleNamespace

import pytest
from django.db import connection, connections

from notifications.api import throttling
from notifications.exceptions import EndpointLimitReached
from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.services import endpoints

from .assertions import assert_problem

PUBLIC_URL = "https://93.184.215.14/hooks"


@pytest.mark.django_db
def test_registering_past_the_shops_endpoint_limit_is_a_409_and_changes_nothing(
    api, other_api, settings
):
    # given a shop at its limit of two endpoints
    settings.WEBHOOK_MAX_ENDPOINTS_PER_SHOP = 2
    ids = [
        api.post("/api/v1/webhook-endpoints", {"url": f"{PUBLIC_URL}/{n}"}, format="json").json()[
            "id"
        ]
        for n in range(2)
    ]

    # when it registers a third
    response = api.post("/api/v1/webhook-endpoints", {"url": f"{PUBLIC_URL}/3"}, format="json")

    # then it is refused with the limit, nothing is stored, and another shop is unaffected
    body = assert_problem(response, status=409, type_slug="webhook-endpoint-limit")
    assert body["detail"] == (
        "A shop may have at most 2 webhook endpoints; delete one to add another."
    )
    assert body["limit"] == 2
    assert sorted(str(pk) for pk in WebhookEndpoint.objects.values_list("pk", flat=True)) == sorted(
        ids
    )
    other = other_api.post("/api/v1/webhook-endpoints", {"url": PUBLIC_URL}, format="json")
    assert other.status_code == 201, other.content
    # and deleting one makes room again
    assert api.delete(f"/api/v1/webhook-endpoints/{ids[0]}").status_code == 204
    again = api.post("/api/v1/webhook-endpoints", {"url": f"{PUBLIC_URL}/3"}, format="json")
    assert again.status_code == 201, again.content


def _wait_for(condition, *, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        threading.Event().wait(0.01)
    return False


def _waiting_on_an_advisory_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_two_registrations_racing_for_the_last_place_get_exactly_one(settings, monkeypatch):
    # given a shop with room for one more endpoint, and the first registration held at a
    # gate after it has counted, inside its transaction
    settings.WEBHOOK_MAX_ENDPOINTS_PER_SHOP = 1
    gate, counted = threading.Event(), threading.Event()
    new_secret = endpoints.webhooks.new_secret
    calls = []

    def held_new_secret():
        calls.append(1)
        if len(calls) == 1:
            counted.set()
            gate.wait(timeout=60)
        return new_secret()

    monkeypatch.setattr(endpoints.webhooks, "new_secret", held_new_secret)
    outcomes: dict[str, str] = {}

    def register(name: str) -> None:
        try:
            endpoints.webhook_endpoint_create(shop_id=7, url=f"{PUBLIC_URL}/{name}")
            outcomes[name] = "created"
        except EndpointLimitReached:
            outcomes[name] = "limit"
        finally:
            connections.close_all()

    first = threading.Thread(target=register, args=("first",))
    first.start()
    assert counted.wait(timeout=30)

    # when a second registration comes while the first is still open
    second = threading.Thread(target=register, args=("second",))
    second.start()
    waited = _wait_for(_waiting_on_an_advisory_lock)
    gate.set()
    first.join(timeout=30)
    second.join(timeout=30)

    # then the second waited for the first, and found the shop full
    assert waited, "the second registration did not wait for the first"
    assert outcomes == {"first": "created", "second": "limit"}
    assert list(WebhookEndpoint.objects.values_list("url", flat=True)) == [f"{PUBLIC_URL}/first"]


@pytest.fixture
def frozen_minute(monkeypatch):
    """Keep the throttle's clock inside one minute, so no window ends during the test."""
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: 1_800_000_030.0))


@pytest.mark.django_db
def test_test_and_replay_requests_past_the_shops_minute_are_a_429(
    api, other_api, settings, frozen_minute
):
    # given a limit of three on-demand actions a minute and an endpoint of each shop
    settings.WEBHOOK_ACTIONS_PER_MINUTE = 3
    mine = api.post("/api/v1/webhook-endpoints", {"url": PUBLIC_URL}, format="json").json()
    theirs = other_api.post("/api/v1/webhook-endpoints", {"url": PUBLIC_URL}, format="json").json()
    test_url = f"/api/v1/webhook-endpoints/{mine['id']}/test"
    replay_url = f"/api/v1/webhook-endpoints/{mine['id']}/replay"

    # when the shop asks for two tests and a replay, then a fourth action
    statuses = [
        api.post(test_url, format="json").status_code,
        api.post(test_url, format="json").status_code,
        api.post(replay_url, {"since": "2026-01-01T00:00:00Z"}, format="json").status_code,
    ]
    refused = api.post(test_url, format="json")

    # then the fourth is refused until the minute ends and queues nothing,
    # while another shop's actions still pass
    assert statuses == [202, 202, 202]
    assert_problem(refused, status=429, type_slug="rate-limited")
    assert refused["Retry-After"] == "30"
    assert WebhookDelivery.objects.filter(endpoint_id=mine["id"]).count() == 2
    other = other_api.post(f"/api/v1/webhook-endpoints/{theirs['id']}/test", format="json")
    assert other.status_code == 202, other.content
    # reads and registrations are not on-demand actions
    assert api.get(f"/api/v1/webhook-endpoints/{mine['id']}").status_code == 200
