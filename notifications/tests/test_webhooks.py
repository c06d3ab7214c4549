"""Standard Webhooks signatures, checked with the reference verifier from PyPI."""

import ipaddress
import socket
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifications import services, ssrf, webhooks
from notifications.models import WebhookEndpoint

BODY = webhooks.encode_body({"event_id": "e1", "type": "order.placed", "data": {"total": "9.90"}})


def test_our_signature_verifies_with_the_reference_library():
    secret = webhooks.new_secret()
    signed_from = int(time.time())
    headers = webhooks.signed_headers(secrets=[secret], msg_id="msg_1", body=BODY)
    signed_until = int(time.time())

    assert Webhook(secret).verify(BODY, headers) == {
        "event_id": "e1",
        "type": "order.placed",
        "data": {"total": "9.90"},
    }
    assert headers["webhook-id"] == "msg_1"
    assert signed_from <= int(headers["webhook-timestamp"]) <= signed_until
    # the same bytes the reference signer makes
    at = datetime.fromtimestamp(1_700_000_000, tz=UTC)
    reference = Webhook(secret).sign("msg_1", at, BODY.decode())
    assert (
        webhooks.sign(secret=secret, msg_id="msg_1", timestamp=1_700_000_000, body=BODY)
        == reference
    )


def test_a_tampered_body_fails_verification():
    secret = webhooks.new_secret()
    headers = webhooks.signed_headers(secrets=[secret], msg_id="msg_1", body=BODY)

    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(BODY.replace(b"9.90", b"0.01"), headers)


def test_a_stale_timestamp_fails_verification():
    secret = webhooks.new_secret()
    stale = int(time.time()) - 6 * 60
    headers = webhooks.signed_headers(secrets=[secret], msg_id="msg_1", body=BODY, timestamp=stale)

    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


def test_another_secret_fails_verification():
    headers = webhooks.signed_headers(secrets=[webhooks.new_secret()], msg_id="m", body=BODY)

    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(BODY, headers)


def test_during_a_rotation_both_secrets_verify(db):
    endpoint, old_secret = services.webhook_endpoint_create(shop_id=1, url="https://93.184.215.14/")
    endpoint, new_secret = services.webhook_endpoint_rotate_secret(
        endpoint=endpoint, keep_previous_for=timedelta(hours=24)
    )
    now = timezone.now()

    headers = webhooks.signed_headers(secrets=endpoint.signing_secrets(now), msg_id="m", body=BODY)

    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old_secret).verify(BODY, headers)
    assert Webhook(new_secret).verify(BODY, headers)
    # after the overlap only the new secret signs
    later = endpoint.signing_secrets(now + timedelta(hours=25))
    assert later == [new_secret]


def test_rotation_with_no_overlap_retires_the_old_secret_at_once(db):
    endpoint, old_secret = services.webhook_endpoint_create(shop_id=1, url="https://93.184.215.14/")

    endpoint, new_secret = services.webhook_endpoint_rotate_secret(
        endpoint=endpoint, keep_previous_for=timedelta(0)
    )

    assert endpoint.signing_secrets(timezone.now()) == [new_secret]
    assert WebhookEndpoint.objects.get().previous_secret == ""
    assert new_secret != old_secret


def test_secrets_follow_the_standard_format():
    secret = webhooks.new_secret()

    assert secret.startswith("whsec_")
    assert Webhook(secret)  # the reference library accepts it
    assert secret != webhooks.new_secret()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "sent"), (204, "sent"), (301, "failed"), (400, "failed"), (404, "failed"),
     (408, "retry"), (409, "failed"), (429, "retry"), (500, "retry"), (503, "retry")],
)  # fmt: skip
def test_status_codes_are_classified(status, outcome):
    assert webhooks.classify(status) == outcome


def test_the_schedule_is_exponential_capped_and_about_a_day():
    delays = [webhooks.retry_delay(n, jitter=0) for n in range(1, webhooks.MAX_ATTEMPTS)]

    assert [d.total_seconds() for d in delays] == [
        5, 20, 80, 320, 1280, 5120, 20480, 28800, 28800
    ]  # fmt: skip
    assert timedelta(hours=23) < sum(delays, timedelta()) < timedelta(hours=24)
    jittered = webhooks.retry_delay(3)
    assert timedelta(seconds=80) <= jittered <= timedelta(seconds=88)


@pytest.fixture
def trickler():
    """A server on 127.0.0.1 that answers one byte every 0.1 s until the test ends.

    No per-read timeout ever fires on it: only a deadline for the whole attempt ends a
    request to it.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    done = threading.Event()

    def serve():
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        connection.recv(65536)
        try:
            connection.send(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not done.wait(0.1):  # the receiver's pace, not a wait of the test's
                connection.send(b"a")
        except OSError:
            pass
        finally:
            connection.close()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    yield listener.getsockname()[1]
    done.set()
    listener.close()
    server.join(timeout=10)


def test_an_attempt_has_one_deadline_even_for_a_receiver_that_trickles(trickler):
    results = []
    attempt = threading.Thread(
        target=lambda: results.append(
            webhooks.post(
                url=f"http://127.0.0.1:{trickler}/",
                body=BODY,
                headers={},
                request_id=uuid.uuid4(),
                allow_private=True,
                timeout=0.5,
            )
        ),
        daemon=True,
    )

    attempt.start()
    # bounded, not timed: per-read timeouts alone would keep reading for as long as the
    # receiver trickles (until the test gives up), however loaded the machine is
    attempt.join(timeout=30)

    assert attempt.is_alive() is False
    [result] = results
    assert (result.outcome, result.status_code) == ("retry", None)
    assert result.error == "Timed out after 0.5 s."


def test_the_guard_refuses_before_any_connection(canary):
    result = webhooks.post(
        url=f"http://127.0.0.1:{canary.port}/",
        body=BODY,
        headers={},
        request_id=uuid.uuid4(),
        allow_private=False,
    )

    assert result.outcome == "failed"
    assert canary.connections == 0


@pytest.fixture
def hanging_resolver(monkeypatch):
    """A resolver that blocks names starting with "hangs" until its gate opens.

    ``asked`` is set once it blocks; ``calls`` counts the lookups of each name.
    """
    gate, asked = threading.Event(), threading.Event()
    calls: Counter = Counter()

    def resolve(host: str, port: int):
        calls[host] += 1
        if host.startswith("hangs"):
            asked.set()
            gate.wait(timeout=120)  # bounded: never outlive the test run
        return [ipaddress.ip_address("93.184.215.14")]

    monkeypatch.setattr(ssrf, "resolve", resolve)
    yield SimpleNamespace(gate=gate, asked=asked, calls=calls)
    gate.set()  # free the resolver's thread


def test_a_hanging_resolver_fails_the_attempt_within_its_deadline(hanging_resolver):
    # given a resolver that never answers while the attempt runs
    results: list[webhooks.AttemptResult] = []

    def attempt():
        results.append(
            webhooks.post(
                url="https://hangs.example/in",
                body=BODY,
                headers={},
                request_id=uuid.uuid4(),
                allow_private=False,
                timeout=0.5,
            )
        )

    # when an attempt with a 0.5 s budget is made
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=30)  # a bound for the test, far beyond the budget

    # then the attempt has ended, with the gate still shut, as a retryable DNS failure
    assert not worker.is_alive(), "the attempt waited for the resolver"
    assert hanging_resolver.asked.is_set()
    assert not hanging_resolver.gate.is_set()
    [result] = results
    assert (result.outcome, result.status_code) == ("retry", None)
    assert result.error.startswith(
        "The host 'hangs.example' could not be resolved: DNS did not answer within 0."
    ), result.error


def test_a_hanging_resolver_at_registration_is_a_400_not_a_held_request(
    api, hanging_resolver, monkeypatch
):
    # given a short lookup budget at registration
    monkeypatch.setattr(ssrf, "RESOLVE_TIMEOUT_SECONDS", 0.2)

    # when a URL whose host hangs the resolver is registered
    response = api.post(
        "/api/v1/webhook-endpoints",
        {"url": "https://hangs-at-registration.example/in"},
        format="json",
    )

    # then it is refused, naming the url, and nothing is stored
    assert response.status_code == 400, response.content
    body = response.json()
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [("url", "unsafe_url")]
    assert "DNS did not answer within 0.2 s" in body["detail"]
    assert not hanging_resolver.gate.is_set()
    assert not WebhookEndpoint.objects.exists()


def test_a_host_that_hangs_the_resolver_holds_one_thread_and_other_hosts_resolve(
    hanging_resolver,
):
    # given more lookups of a hanging host than the resolver has threads, each given up
    for _ in range(ssrf.RESOLVER_THREADS + 4):
        with pytest.raises(ssrf.UnresolvableHost, match="DNS did not answer"):
            ssrf.resolve_within("hangs.shop-a.example", 443, 0.05)

    # when another shop's host is looked up
    addresses = ssrf.resolve_within("hooks.shop-b.example", 443, 30.0)

    # then it is answered, and the hanging host was asked of the resolver once
    assert addresses == [ipaddress.ip_address("93.184.215.14")]
    assert hanging_resolver.calls == {"hangs.shop-a.example": 1, "hooks.shop-b.example": 1}
    assert not hanging_resolver.gate.is_set()
