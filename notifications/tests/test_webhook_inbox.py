"""The webhook inbox: a stand-in shop that receives, verifies and shows webhooks (embedded mode)."""

import json
import time
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from notifications import inbox, services, webhooks
from testkit.factories import order_for

from .api.assertions import assert_problem

pytestmark = pytest.mark.django_db

BASE = "http://127.0.0.1:8041"
INBOX_URL = f"{BASE}/dev/webhook-inbox"


@pytest.fixture(autouse=True)
def inbox_on(settings, tmp_path):
    settings.WEBHOOK_INBOX = True
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.PUBLIC_BASE_URL = BASE
    settings.WEBHOOK_INBOX_PATH = str(tmp_path / "webhook-inbox")


def _staff(username: str, *roles: str):
    user = get_user_model().objects.create_user(
        username=username, password="a-long-password-42", is_staff=True
    )
    user.groups.set(Group.objects.filter(name__in=roles))
    return user


def _endpoint(shop) -> str:
    return services.webhook_endpoint_create(shop_id=shop.pk, url=INBOX_URL)[1]


def _post(client, payload: dict, *, secret: str, timestamp: int | None = None, headers=None):
    body = webhooks.encode_body(payload)
    signed = webhooks.signed_headers(
        secrets=[secret], msg_id=payload["event_id"], body=body, timestamp=timestamp
    )
    return client.post(
        "/dev/webhook-inbox",
        data=body,
        content_type="application/json",
        headers={**signed, **(headers or {})},
    )


def _payload(event_type: str = "order.placed") -> dict:
    return {"event_id": str(uuid.uuid4()), "type": event_type, "data": {"number": "OF-1"}}


# --- registering the inbox ---
def test_the_inbox_url_may_be_registered_although_loopback(api, shop):
    response = api.post("/api/v1/webhook-endpoints", {"url": INBOX_URL}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["url"] == INBOX_URL
    assert inbox.inbox_url() == INBOX_URL


def test_another_loopback_url_is_a_400_that_says_how_to_try_webhooks_locally(api):
    response = api.post(
        "/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:9999/hooks"}, format="json"
    )

    body = assert_problem(response, status=400, type_slug="validation-error")
    (error,) = body["errors"]
    assert error["attr"] == "url"
    assert "a loopback address" in error["detail"]
    assert f"register this app's webhook inbox, {INBOX_URL}" in error["detail"]
    assert "WEBHOOK_ALLOW_PRIVATE=true" in error["detail"]


def test_with_the_inbox_off_its_url_is_refused_and_settings_are_not_named(api, settings):
    settings.WEBHOOK_INBOX = False

    response = api.post("/api/v1/webhook-endpoints", {"url": INBOX_URL}, format="json")

    body = assert_problem(response, status=400, type_slug="validation-error")
    assert "a loopback address" in body["errors"][0]["detail"]
    assert "WEBHOOK_ALLOW_PRIVATE" not in body["errors"][0]["detail"]


# --- receiving ---
def test_a_webhook_signed_with_the_endpoints_secret_is_verified_and_kept(client, shop):
    secret = _endpoint(shop)
    payload = _payload()

    response = _post(client, payload, secret=secret)

    assert response.status_code == 204
    (received,) = inbox.inbox_list(limit=10)
    assert (received.verified, received.shop_id, received.reason) == (True, shop.pk, "")
    assert received.event_type == "order.placed"
    assert json.loads(received.body) == payload
    assert received.webhook_id == payload["event_id"]
    assert set(received.headers) == {
        "content-type",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("secret", "No matching signature found"),
        ("timestamp", "Message timestamp too old"),
        ("signature", "No matching signature found"),
    ],
)
def test_a_webhook_that_does_not_verify_is_a_400_and_kept_as_not_verified(
    client, shop, tamper, reason
):
    secret = _endpoint(shop)
    payload = _payload()
    if tamper == "secret":
        response = _post(client, payload, secret=webhooks.new_secret())
    elif tamper == "timestamp":
        response = _post(client, payload, secret=secret, timestamp=int(time.time()) - 3600)
    else:
        response = _post(client, payload, secret=secret, headers={"webhook-signature": "v1,AAAA"})

    assert response.status_code == 400
    assert response.content.decode() == f"Signature not verified: {reason}"
    (received,) = inbox.inbox_list(limit=10)
    assert (received.verified, received.shop_id, received.reason) == (False, None, reason)


@pytest.mark.parametrize(
    "headers", [{}, {"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "junk"}]
)
def test_missing_or_malformed_headers_are_a_400_never_a_500(client, shop, headers):
    _endpoint(shop)

    response = client.post(
        "/dev/webhook-inbox",
        data=b"\xff\xfe not json",
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 400
    (received,) = inbox.inbox_list(limit=10)
    assert not received.verified


def test_without_an_endpoint_at_the_inbox_nothing_verifies(client, shop):
    response = _post(client, _payload(), secret=webhooks.new_secret())

    assert response.status_code == 400
    assert "No webhook endpoint is registered at this URL" in response.content.decode()


def test_a_webhook_is_the_shop_whose_secret_signed_it_and_no_other(client, shop, other_shop):
    _endpoint(shop)
    other_secret = _endpoint(other_shop)

    assert _post(client, _payload("order.confirmed"), secret=other_secret).status_code == 204

    (received,) = inbox.inbox_list(limit=10)
    assert received.shop_id == other_shop.pk
    assert inbox.inbox_list(limit=10, shop_id=shop.pk) == []
    assert inbox.inbox_list(limit=10, shop_id=other_shop.pk) == [received]


def test_with_the_inbox_off_the_receiving_url_is_a_404(client, shop, settings):
    secret = _endpoint(shop)
    settings.WEBHOOK_INBOX = False

    assert _post(client, _payload(), secret=secret).status_code == 404
    assert inbox.inbox_list(limit=10) == []


def test_the_inbox_keeps_only_the_newest(client, shop, settings):
    settings.WEBHOOK_INBOX_KEEP = 2
    secret = _endpoint(shop)
    payloads = [_payload(f"order.type{n}") for n in range(3)]
    for payload in payloads:
        _post(client, payload, secret=secret)

    assert [r.event_type for r in inbox.inbox_list(limit=10)] == ["order.type2", "order.type1"]


# --- the staff page ---
@pytest.mark.parametrize("role", ["viewer", "operator", "supervisor"])
def test_staff_who_may_see_the_staff_pages_read_the_inbox(client, shop, role):
    _post(client, _payload(), secret=_endpoint(shop))
    (received,) = inbox.inbox_list(limit=1)
    client.force_login(_staff(f"staff-{role}", role))

    listing = client.get("/staff/webhook-inbox/").content.decode()
    detail = client.get(f"/staff/webhook-inbox/{received.name}").content.decode()

    assert INBOX_URL in listing
    assert "order.placed" in listing
    assert "verified" in listing
    assert f'href="/staff/webhook-inbox/{received.name}"' in listing
    assert "Signature verified" in detail
    assert received.webhook_id in detail
    assert "webhook-signature" in detail
    assert "&quot;number&quot;: &quot;OF-1&quot;" in detail


def test_the_inbox_page_filters_by_shop(client, shop, other_shop):
    _post(client, _payload("order.cancelled"), secret=_endpoint(other_shop))
    client.force_login(_staff("vera", "viewer"))

    mine = client.get(f"/staff/webhook-inbox/?shop={shop.pk}").content.decode()
    theirs = client.get(f"/staff/webhook-inbox/?shop={other_shop.pk}").content.decode()
    junk = [
        client.get(f"/staff/webhook-inbox/?shop={shop}")
        for shop in ("x%00", "9" * 5000, "%C2%B2", "-1")
    ]

    assert "order.cancelled" not in mine
    assert "order.cancelled" in theirs
    assert [r.status_code for r in junk] == [200, 200, 200, 200]
    assert all("order.cancelled" in r.content.decode() for r in junk)  # no filter: all shops


def test_staff_without_a_role_get_403_and_unknown_items_404(client, shop):
    _post(client, _payload(), secret=_endpoint(shop))
    (received,) = inbox.inbox_list(limit=1)
    client.force_login(_staff("nobody"))

    assert client.get("/staff/webhook-inbox/").status_code == 403
    assert client.get(f"/staff/webhook-inbox/{received.name}").status_code == 403
    client.force_login(_staff("vera", "viewer"))
    assert client.get("/staff/webhook-inbox/1733300000000000000-0000abcd").status_code == 404
    assert client.get("/staff/webhook-inbox/..%2Fsecrets").status_code == 404


# --- the README's example, end to end over HTTP ---
@pytest.mark.django_db(transaction=True)
def test_an_order_placed_reaches_the_inbox_signed_and_verified(
    live_server, settings, shop, products, run_events, send_webhooks
):
    settings.PUBLIC_BASE_URL = live_server.url
    services.webhook_endpoint_create(
        shop_id=shop.pk, url=f"{live_server.url}/dev/webhook-inbox", event_types=["order.placed"]
    )
    order = order_for(shop, lines={"MUG": 1})

    run_events()
    sent = send_webhooks()

    assert sent.sent == 1
    (received,) = inbox.inbox_list(limit=10)
    assert (received.verified, received.shop_id, received.event_type) == (
        True,
        shop.pk,
        "order.placed",
    )
    assert json.loads(received.body)["data"]["order_id"] == str(order.pk)
