"""The shops' webhook API: endpoints, secrets, tests, deliveries and replays."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from notifications.choices import SendStatus
from notifications.models import WebhookDelivery, WebhookEndpoint
from orderflow.models import IdempotencyKey
from testkit.factories import order_for

from .assertions import assert_problem

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://93.184.215.14/hooks"
ENDPOINT_FIELDS = {
    "id",
    "url",
    "description",
    "event_types",
    "active",
    "disabled",
    "disabled_at",
    "disabled_reason",
    "failing_since",
    "previous_secret_expires_at",
    "created_at",
    "updated_at",
}


def _create(api, **body):
    response = api.post("/api/v1/webhook-endpoints", {"url": PUBLIC_URL, **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_creates_an_endpoint_and_shows_its_secret_once(api, shop):
    response = api.post(
        "/api/v1/webhook-endpoints",
        {"url": PUBLIC_URL, "event_types": ["order.confirmed"], "description": "ERP"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == ENDPOINT_FIELDS | {"secret"}
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.shop_id, endpoint.url, endpoint.event_types, endpoint.description) == (
        shop.pk,
        PUBLIC_URL,
        ["order.confirmed"],
        "ERP",
    )
    assert body["secret"] == endpoint.secret
    assert Webhook(body["secret"])  # a valid Standard Webhooks secret
    assert (body["active"], body["disabled"]) == (True, False)
    listed = api.get("/api/v1/webhook-endpoints").json()["results"]
    assert [set(e) for e in listed] == [ENDPOINT_FIELDS]
    assert set(api.get(f"/api/v1/webhook-endpoints/{body['id']}").json()) == ENDPOINT_FIELDS


def test_omitted_event_types_mean_all(api):
    assert _create(api)["event_types"] == []


def test_an_unknown_event_type_is_a_400(api):
    response = api.post(
        "/api/v1/webhook-endpoints",
        {"url": PUBLIC_URL, "event_types": ["order.confirmed", "order.confimred"]},
        format="json",
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"] == [
        {
            "attr": "event_types.1",
            "code": "unknown_event_type",
            "detail": "No event type 'order.confimred'.",
        }
    ]
    assert not WebhookEndpoint.objects.exists()


def test_a_retried_create_with_the_same_key_makes_one_endpoint(api):
    body = {"url": PUBLIC_URL}

    first = api.post("/api/v1/webhook-endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = api.post("/api/v1/webhook-endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == {**first.json(), "secret": None}
    assert WebhookEndpoint.objects.count() == 1


def _stored_response(key: str) -> dict:
    return IdempotencyKey.objects.get(key=key).response_body


def test_the_idempotency_row_of_a_create_never_holds_the_secret(api):
    # given an endpoint registered under an Idempotency-Key
    first = api.post(
        "/api/v1/webhook-endpoints", {"url": PUBLIC_URL}, format="json", HTTP_IDEMPOTENCY_KEY="c1"
    )
    assert first.status_code == 201, first.content
    secret = first.json()["secret"]
    assert secret == WebhookEndpoint.objects.get().secret

    # when the row kept for replays is read
    stored = _stored_response("c1")

    # then it holds the endpoint without its secret, in no field
    assert stored == {**first.json(), "secret": None}
    assert secret not in json.dumps(stored)
    assert secret.removeprefix("whsec_") not in json.dumps(stored)


def test_the_idempotency_row_of_a_rotation_never_holds_the_new_secret(api):
    # given an endpoint whose secret is rotated under an Idempotency-Key
    created = _create(api)
    path = f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret"
    first = api.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    assert first.status_code == 200, first.content
    secret = first.json()["secret"]

    # when the rotation is retried with the same key
    again = api.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="r1")

    # then the replay and the stored row carry no secret, and the secret did not change
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == {**first.json(), "secret": None}
    assert secret not in json.dumps(_stored_response("r1"))
    assert WebhookEndpoint.objects.get().secret == secret


def test_updates_fields_and_re_enables_a_disabled_endpoint(api):
    created = _create(api)
    WebhookEndpoint.objects.filter(pk=created["id"]).update(
        active=False,
        failing_since=timezone.now() - timedelta(days=1),
        disabled_at=timezone.now(),
        disabled_reason="Every attempt failed",
    )
    assert api.get(f"/api/v1/webhook-endpoints/{created['id']}").json()["disabled"] is True

    response = api.patch(
        f"/api/v1/webhook-endpoints/{created['id']}",
        {"active": True, "event_types": ["shipment.dispatched"], "description": "new"},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["active"], body["disabled"], body["failing_since"], body["disabled_reason"]) == (
        True,
        False,
        None,
        "",
    )
    assert (body["event_types"], body["description"]) == (["shipment.dispatched"], "new")
    assert "secret" not in body


def test_an_update_to_a_forbidden_url_is_a_400_and_changes_nothing(api):
    created = _create(api)

    response = api.patch(
        f"/api/v1/webhook-endpoints/{created['id']}",
        {"url": "http://169.254.169.254/latest"},
        format="json",
    )

    assert_problem(response, status=400, type_slug="validation-error")
    assert WebhookEndpoint.objects.get().url == PUBLIC_URL


def test_deletes_an_endpoint(api):
    created = _create(api)

    response = api.delete(f"/api/v1/webhook-endpoints/{created['id']}")

    assert response.status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_rotating_gives_a_new_secret_and_keeps_the_old_one_for_a_while(api):
    created = _create(api)

    response = api.post(
        f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret",
        {"keep_previous_for_hours": 2},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret != created["secret"]
    assert endpoint.previous_secret == created["secret"]
    expires = endpoint.previous_secret_expires_at
    assert timedelta(hours=1, minutes=59) < expires - timezone.now() <= timedelta(hours=2)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/rotate-secret"),
        ("post", "/test"),
        ("get", "/deliveries"),
        ("post", "/replay"),
    ],
)
def test_another_shops_endpoint_is_a_404(api, other_api, method, path):
    created = _create(other_api)

    response = getattr(api, method)(
        f"/api/v1/webhook-endpoints/{created['id']}{path}",
        # a valid body for the operation: unknown fields are a 400 of their own
        {"since": "2026-01-01T00:00:00Z"} if path == "/replay" else {},
        format="json",
    )

    body = assert_problem(response, status=404, type_slug="not-found")
    assert body["detail"] == "No such webhook endpoint."
    assert WebhookEndpoint.objects.get().url == PUBLIC_URL


def test_an_unknown_or_malformed_id_is_a_404(api):
    assert_problem(api.get("/api/v1/webhook-endpoints/nope"), status=404, type_slug="not-found")
    assert_problem(
        api.get("/api/v1/webhook-deliveries/6f1c1a8e-5b8d-4d0c-9a57-0a1d1f0e0b1a"),
        status=404,
        type_slug="not-found",
    )


def test_unauthenticated_is_a_401(client):
    response = client.get("/api/v1/webhook-endpoints")

    assert_problem(response, status=401, type_slug="not-authenticated")


@pytest.fixture
def live_endpoint(api, receiver, allow_private):
    created = _create(api, url=receiver.url + "/in")
    receiver.secrets["/in"] = created["secret"]
    return created


def test_send_test_event_reaches_the_receiver_signed(api, receiver, live_endpoint, send_webhooks):
    response = api.post(f"/api/v1/webhook-endpoints/{live_endpoint['id']}/test")

    assert response.status_code == 202, response.content
    queued = response.json()
    assert (queued["event_type"], queued["status"]) == ("webhook.test", "queued")
    send_webhooks()
    [request] = receiver.received
    assert request.verified
    assert request.headers["webhook-id"] == queued["event_id"]
    assert request.json["type"] == "webhook.test"
    assert request.json["data"]["endpoint_id"] == live_endpoint["id"]
    detail = api.get(f"/api/v1/webhook-deliveries/{queued['id']}").json()
    assert detail["status"] == "sent"
    assert [(a["number"], a["status_code"], a["outcome"]) for a in detail["log"]] == [
        (1, 200, "sent")
    ]
    assert detail["log"][0]["response_body"] == "answered 200"


def test_a_test_event_to_an_inactive_endpoint_is_a_409(api, live_endpoint):
    api.patch(f"/api/v1/webhook-endpoints/{live_endpoint['id']}", {"active": False}, format="json")

    response = api.post(f"/api/v1/webhook-endpoints/{live_endpoint['id']}/test")

    assert response.status_code == 409
    assert response.json()["detail"] == "Enable the endpoint before sending it a test event."
    assert not WebhookDelivery.objects.exists()


def test_lists_deliveries_newest_first_in_fixed_queries(
    api, shop, products, live_endpoint, run_events, send_webhooks, assert_statements
):
    for _ in range(3):
        order_for(shop)
    run_events()
    send_webhooks()
    path = f"/api/v1/webhook-endpoints/{live_endpoint['id']}/deliveries"

    with assert_statements(3):  # the API key, the endpoint, the page
        response = api.get(path + "?limit=5")

    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 5
    assert [r["created_at"] for r in results] == sorted(
        (r["created_at"] for r in results), reverse=True
    )
    assert {r["status"] for r in results} == {"sent"}
    assert response.json()["next"]


def test_replays_one_delivery(
    api, shop, products, receiver, live_endpoint, run_events, send_webhooks
):
    order_for(shop)
    run_events()
    send_webhooks()
    delivery = WebhookDelivery.objects.filter(event_type="order.placed").get()
    sent = len(receiver.received)

    response = api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay")

    assert response.status_code == 202, response.content
    assert (response.json()["status"], response.json()["attempts"]) == ("queued", 0)
    send_webhooks()
    assert len(receiver.received) == sent + 1
    assert receiver.received[-1].event_id == str(delivery.event_id)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.log.count()) == (SendStatus.SENT, 2)
    assert delivery.replayed_at is not None


def test_replays_everything_since_a_time(
    api, shop, products, receiver, live_endpoint, run_events, send_webhooks
):
    order_for(shop)
    run_events()
    send_webhooks()
    cutoff = timezone.now()
    order_for(shop)
    run_events()
    send_webhooks()
    recent = WebhookDelivery.objects.filter(created_at__gte=cutoff)
    sent = len(receiver.received)

    response = api.post(
        f"/api/v1/webhook-endpoints/{live_endpoint['id']}/replay",
        {"since": cutoff.isoformat()},
        format="json",
    )

    assert response.status_code == 202, response.content
    assert response.json() == {"replayed": recent.count()}
    send_webhooks()
    assert sorted(r.event_id for r in receiver.received[sent:]) == sorted(
        str(d.event_id) for d in recent
    )


def test_replay_needs_a_valid_since(api, live_endpoint):
    response = api.post(
        f"/api/v1/webhook-endpoints/{live_endpoint['id']}/replay",
        {"since": "yesterday"},
        format="json",
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert body["errors"][0]["attr"] == "since"


def test_another_shops_delivery_is_a_404(api, other_shop, allow_private):
    endpoint = WebhookEndpoint.objects.create(shop_id=other_shop.pk, url=PUBLIC_URL, secret="x")
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id="6f1c1a8e-5b8d-4d0c-9a57-0a1d1f0e0b1a",
        event_type="t",
        payload={},
    )

    for response in (
        api.get(f"/api/v1/webhook-deliveries/{delivery.pk}"),
        api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay"),
    ):
        assert_problem(response, status=404, type_slug="not-found")


def test_a_test_or_replay_request_with_body_fields_is_a_400_and_queues_nothing(api, live_endpoint):
    queued = api.post(f"/api/v1/webhook-endpoints/{live_endpoint['id']}/test").json()

    test = api.post(
        f"/api/v1/webhook-endpoints/{live_endpoint['id']}/test", {"event": "x"}, format="json"
    )
    replay = api.post(
        f"/api/v1/webhook-deliveries/{queued['id']}/replay", {"force": True}, format="json"
    )

    for response, field in [(test, "event"), (replay, "force")]:
        body = assert_problem(response, status=400, type_slug="validation-error")
        assert [(e["attr"], e["code"]) for e in body["errors"]] == [(field, "unknown_field")]
    assert list(WebhookDelivery.objects.values_list("id", "replayed_at")) == [
        (uuid.UUID(queued["id"]), None)
    ]
