"""Sending webhooks to a real receiver on 127.0.0.1, with the clock moved instead of slept."""

import itertools
import threading
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core import mail
from django.utils import timezone

from notifications import services, webhooks
from notifications.choices import AttemptOutcome, SendStatus
from notifications.models import Notification, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.services import deliveries
from notifications.tests.deliveries import queued_delivery
from orderflow.models import OutboxEvent
from testkit.factories import order_for

from ..receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


def _shop_events(shop) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(tenant_id=str(shop.pk)).order_by("position"))


def test_each_event_reaches_each_endpoint_exactly_once(
    shop, products, receiver, endpoint_at, run_events, send_webhooks
):
    endpoint_at("/all")
    endpoint_at("/confirmed", event_types=["order.confirmed"])
    order = order_for(shop)

    run_events()  # the saga: placed, reserved, captured, paid, confirmed, invoice issued
    result = send_webhooks()

    events = _shop_events(shop)
    assert [e.type for e in events] == [
        "order.placed",
        "stock.reserved",
        "payment.captured",
        "order.paid",
        "order.confirmed",
        "invoice.issued",
    ]
    assert sorted(r.event_id for r in receiver.at("/all")) == sorted(
        str(e.event_id) for e in events
    )
    confirmed = next(e for e in events if e.type == "order.confirmed")
    assert [r.event_id for r in receiver.at("/confirmed")] == [str(confirmed.event_id)]
    assert all(r.verified for r in receiver.received), [r.verify_error for r in receiver.received]
    assert (result.sent, result.retried, result.failed) == (7, 0, 0)
    first = receiver.at("/confirmed")[0]
    assert first.headers["webhook-id"] == str(confirmed.event_id)
    assert first.json == {
        "event_id": str(confirmed.event_id),
        "type": "order.confirmed",
        "version": 1,
        "occurred_at": confirmed.occurred_at.isoformat(),
        "aggregate": "order",
        "aggregate_id": str(order.id),
        "sequence": confirmed.sequence,
        "correlation_id": confirmed.correlation_id,
        "causation_id": confirmed.causation_id,
        "data": confirmed.data,
    }


def test_a_reapplied_batch_sends_nothing_more(
    shop, products, receiver, endpoint_at, run_events, send_webhooks, reapply_feed
):
    endpoint_at("/all")
    order_for(shop)
    run_events()
    send_webhooks()
    sent_before = len(receiver.received)

    # the projector applies the same events again, as after a crash before its checkpoint
    projected = reapply_feed()
    send_webhooks()

    assert projected.webhooks == 0
    assert len(receiver.received) == sent_before == 6
    assert WebhookDelivery.objects.count() == sent_before


@pytest.fixture
def placed(shop, products, endpoint_at, run_events):
    """One endpoint wanting order.placed, and one placed order's delivery queued for it."""
    endpoint = endpoint_at("/hooks", event_types=["order.placed"])
    order_for(shop)
    run_events()
    return WebhookDelivery.objects.get(endpoint=endpoint)


def test_503_three_times_then_200_is_delivered_on_the_schedule(placed, receiver, send_webhooks):
    receiver.script = [503, 503, 503]
    now = timezone.now()

    for expected_attempts in (1, 2, 3):
        assert send_webhooks(now=now).retried == 1
        placed.refresh_from_db()
        assert (placed.status, placed.attempts) == (SendStatus.QUEUED, expected_attempts)
        # nothing happens before the scheduled time
        assert send_webhooks(now=placed.next_attempt_at - timedelta(seconds=1)).handled == 0
        now = placed.next_attempt_at
    assert send_webhooks(now=now).sent == 1

    placed.refresh_from_db()
    assert (placed.status, placed.attempts, placed.last_status_code) == (SendStatus.SENT, 4, 200)
    log = list(placed.log.order_by("number"))
    assert [(a.number, a.status_code, a.outcome) for a in log] == [
        (1, 503, AttemptOutcome.RETRY),
        (2, 503, AttemptOutcome.RETRY),
        (3, 503, AttemptOutcome.RETRY),
        (4, 200, AttemptOutcome.SENT),
    ]
    for earlier, later in itertools.pairwise(log):
        wait = later.started_at - earlier.started_at
        planned = webhooks.retry_delay(earlier.number, jitter=0)
        assert planned <= wait <= planned * (1 + webhooks.RETRY_JITTER)
        assert later.started_at == earlier.next_attempt_at
    assert [w.total_seconds() for w in (webhooks.retry_delay(n, jitter=0) for n in (1, 2, 3))] == [
        5,
        20,
        80,
    ]
    assert [r.event_id for r in receiver.received] == [str(placed.event_id)] * 4
    assert all(r.verified for r in receiver.received)
    assert len({r.headers["x-request-id"] for r in receiver.received}) == 4
    assert log[0].response_body == "answered 503"
    assert log[0].duration_ms is not None


def test_receiver_down_then_up_is_delivered(placed, receiver, send_webhooks):
    receiver.stop()
    now = timezone.now()

    assert send_webhooks(now=now).retried == 1
    placed.refresh_from_db()
    attempt = placed.log.get()
    assert attempt.status_code is None
    assert "ConnectError" in attempt.error

    receiver.start()
    assert send_webhooks(now=placed.next_attempt_at).sent == 1
    placed.refresh_from_db()
    assert placed.status == SendStatus.SENT
    assert [r.event_id for r in receiver.received] == [str(placed.event_id)]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
def test_a_4xx_other_than_408_and_429_or_a_redirect_is_final(
    placed, receiver, send_webhooks, status
):
    receiver.script = [status]

    assert send_webhooks().failed == 1

    placed.refresh_from_db()
    assert (placed.status, placed.attempts, placed.next_attempt_at) == (SendStatus.FAILED, 1, None)
    assert placed.log.get().outcome == AttemptOutcome.FAILED
    assert len(receiver.received) == 1  # a redirect is not followed


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_408_429_and_5xx_are_retried(placed, receiver, send_webhooks, status):
    receiver.script = [status]

    assert send_webhooks().retried == 1

    placed.refresh_from_db()
    assert (placed.status, placed.last_status_code) == (SendStatus.QUEUED, status)


def test_gives_up_after_the_last_attempt(placed, receiver, send_webhooks):
    receiver.script = [500] * webhooks.MAX_ATTEMPTS
    now = timezone.now()

    for _ in range(webhooks.MAX_ATTEMPTS):
        send_webhooks(now=now)
        placed.refresh_from_db()
        now = placed.next_attempt_at or now

    assert (placed.status, placed.attempts) == (SendStatus.FAILED, webhooks.MAX_ATTEMPTS)
    assert placed.log.count() == webhooks.MAX_ATTEMPTS
    last = placed.log.order_by("number").last()
    assert (last.outcome, last.next_attempt_at) == (AttemptOutcome.FAILED, None)
    # the schedule spans about a day
    first = placed.log.order_by("number").first()
    assert timedelta(hours=23) < last.started_at - first.started_at < timedelta(hours=26)


def test_endpoint_failing_past_the_window_is_disabled_and_the_shop_told(
    shop, products, receiver, endpoint_at, run_events, send_webhooks, send_emails, api, settings
):
    settings.WEBHOOK_DISABLE_AFTER_HOURS = 24
    endpoint = endpoint_at("/hooks", event_types=["order.placed"])
    receiver.script = [500] * 100
    order_for(shop)
    run_events()
    start = timezone.now()
    send_webhooks(now=start)
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.failing_since) == (True, start)

    # a day later, another order's delivery fails too: failing for the whole window
    order_for(shop)
    run_events()
    send_webhooks(now=start + timedelta(hours=23, minutes=59))
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).active
    order_for(shop)
    run_events()
    later = start + timedelta(hours=24)
    send_webhooks(now=later)

    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.disabled_at) == (False, later)
    assert "HTTP 500" in endpoint.disabled_reason
    disabled = OutboxEvent.objects.get(type="webhook_endpoint.disabled")
    assert disabled.data["endpoint_id"] == str(endpoint.pk)
    # the shop is e-mailed, once
    run_events()
    send_emails(now=later)
    run_events()
    send_emails(now=later)
    notification = Notification.objects.get(event_type="webhook_endpoint.disabled")
    assert notification.status == SendStatus.SENT
    to_shop = [m for m in mail.outbox if m.to == ["ops@cafe-azul.example"]]
    assert len(to_shop) == 1  # the customers got their order confirmations
    message = to_shop[0]
    assert message.subject == f"Webhooks to {endpoint.url} are disabled"
    assert "HTTP 500" in message.body
    assert f"/api/v1/webhook-endpoints/{endpoint.pk}" in message.body
    # the API flags it, and nothing more is sent to it
    body = api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}").json()
    assert (body["active"], body["disabled"]) == (False, True)
    received = len(receiver.received)
    send_webhooks(now=later + timedelta(days=2))
    assert len(receiver.received) == received
    assert not WebhookDelivery.objects.filter(status=SendStatus.QUEUED).exists()


def test_a_success_clears_the_failure_record(placed, receiver, send_webhooks):
    receiver.script = [500]
    now = timezone.now()
    send_webhooks(now=now)
    assert WebhookEndpoint.objects.get(pk=placed.endpoint_id).failing_since == now

    placed.refresh_from_db()
    send_webhooks(now=placed.next_attempt_at)

    assert WebhookEndpoint.objects.get(pk=placed.endpoint_id).failing_since is None


def test_one_failure_holds_back_the_endpoints_other_deliveries_in_the_batch(
    shop, products, receiver, endpoint_at, run_events, send_webhooks
):
    endpoint_at("/hooks", event_types=["order.placed"])
    for _ in range(3):
        order_for(shop)
    run_events()
    receiver.script = [503]

    result = send_webhooks()

    assert (result.retried, result.postponed, result.sent) == (1, 2, 0)
    assert len(receiver.received) == 1
    due_at = {d.next_attempt_at for d in WebhookDelivery.objects.all()}
    assert len(due_at) == 1  # all wait for the failed one's retry
    assert WebhookAttempt.objects.count() == 1
    assert sorted(d.attempts for d in WebhookDelivery.objects.all()) == [0, 0, 1]


def test_an_inactive_endpoint_gets_skipped_rows_and_no_request(
    shop, products, receiver, endpoint_at, run_events, send_webhooks
):
    endpoint = endpoint_at("/hooks", event_types=["order.placed"])
    services.webhook_endpoint_update(endpoint=endpoint, active=False)
    order_for(shop)
    run_events()

    send_webhooks()

    assert WebhookDelivery.objects.get().status == SendStatus.SKIPPED
    assert receiver.received == []


def test_a_batch_starts_no_attempt_that_could_outlive_its_lease(
    shop, products, receiver, endpoint_at, run_events, monkeypatch, settings
):
    settings.WEBHOOK_SHOP_BATCH_SECONDS = settings.WEBHOOK_HOST_BATCH_SECONDS = 1000.0
    endpoint_at("/hooks", event_types=["order.placed"])
    for _ in range(5):
        order_for(shop)
    run_events()
    # on the sender's clock every POST takes its whole budget, like endpoints timing out
    seconds = [0.0]
    monkeypatch.setattr(deliveries, "time", SimpleNamespace(monotonic=lambda: seconds[0]))
    post = deliveries._post

    def slow_post(*args, **kwargs):
        seconds[0] += deliveries.ATTEMPT_BUDGET_SECONDS
        return post(*args, **kwargs)

    monkeypatch.setattr(deliveries, "_post", slow_post)

    first = services.webhook_deliveries_send_due()

    assert (first.sent, first.postponed) == (3, 2)  # the lease holds three attempts
    untried = WebhookDelivery.objects.filter(status=SendStatus.QUEUED)
    assert [(d.attempts, d.lease_until) for d in untried] == [(0, None), (0, None)]
    assert services.webhook_deliveries_send_due().sent == 2
    assert len(receiver.received) == 5


def test_a_stored_non_ascii_url_breaks_no_batch_and_another_shop_gets_all_five(
    shop, other_shop, receiver, allow_private, send_webhooks
):
    # given shop A's endpoint stored with a non-ASCII path (as registration once allowed),
    # due first, and five deliveries of shop B due in the same batch
    broken = WebhookEndpoint.objects.create(
        shop_id=shop.pk, url=f"{receiver.url}/ü", secret=webhooks.new_secret()
    )
    healthy, secret = services.webhook_endpoint_create(
        shop_id=other_shop.pk, url=f"{receiver.url}/b"
    )
    receiver.secrets["/b"] = secret
    now = timezone.now()
    a = queued_delivery(broken, due_at=now - timedelta(minutes=1))
    b = [queued_delivery(healthy, due_at=now) for _ in range(5)]

    # when one batch is sent
    result = services.webhook_deliveries_send_due()

    # then B's receiver has all five, verified, and A's URL was sent percent-encoded
    assert (result.sent, result.retried, result.failed, result.postponed) == (6, 0, 0, 0)
    assert sorted(r.event_id for r in receiver.at("/b")) == sorted(str(d.event_id) for d in b)
    assert all(r.verified for r in receiver.at("/b"))
    assert [r.event_id for r in receiver.at("/%C3%BC")] == [str(a.event_id)]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {SendStatus.SENT}


def test_any_exception_of_one_send_is_that_rows_failure_alone(
    shop, other_shop, receiver, allow_private, monkeypatch
):
    # given shop A's endpoint whose send raises something no one expected, due first,
    # and five deliveries of shop B in the same batch
    a_endpoint, _ = services.webhook_endpoint_create(shop_id=shop.pk, url=f"{receiver.url}/a")
    b_endpoint, secret = services.webhook_endpoint_create(
        shop_id=other_shop.pk, url=f"{receiver.url}/b"
    )
    receiver.secrets["/b"] = secret
    post = webhooks.post

    def post_raising_for_a(*, url, **kwargs):
        if url.endswith("/a"):
            raise TypeError("an HTTP client bug")
        return post(url=url, **kwargs)

    monkeypatch.setattr(webhooks, "post", post_raising_for_a)
    now = timezone.now()
    a = queued_delivery(a_endpoint, due_at=now - timedelta(minutes=1))
    b = [queued_delivery(b_endpoint, due_at=now) for _ in range(5)]

    # when one batch is sent
    result = services.webhook_deliveries_send_due(now=now)

    # then A's row has one logged attempt with the error and waits for its retry,
    # and B's five are sent
    assert (result.sent, result.retried, result.failed, result.postponed) == (5, 1, 0, 0)
    assert sorted(r.event_id for r in receiver.at("/b")) == sorted(str(d.event_id) for d in b)
    a.refresh_from_db()
    assert (a.status, a.attempts, a.lease_until) == (SendStatus.QUEUED, 1, None)
    assert a.next_attempt_at > now
    attempt = a.log.get()
    assert (attempt.outcome, attempt.status_code, attempt.error) == (
        AttemptOutcome.RETRY,
        None,
        "Unexpected TypeError: an HTTP client bug",
    )
    assert receiver.at("/a") == []


def test_an_exception_on_every_attempt_ends_failed_on_the_rows_schedule(
    shop, receiver, allow_private, monkeypatch, send_webhooks
):
    # given an endpoint whose every send raises
    endpoint, _ = services.webhook_endpoint_create(shop_id=shop.pk, url=f"{receiver.url}/a")

    def raising(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(webhooks, "post", raising)
    now = timezone.now()
    delivery = queued_delivery(endpoint, due_at=now)

    # when it is sent at each of its scheduled times
    for _ in range(webhooks.MAX_ATTEMPTS):
        send_webhooks(now=now)
        delivery.refresh_from_db()
        now = delivery.next_attempt_at or now

    # then it failed after the last attempt, each one logged
    assert (delivery.status, delivery.attempts) == (SendStatus.FAILED, webhooks.MAX_ATTEMPTS)
    assert list(delivery.log.values_list("outcome", flat=True).order_by("number")) == [
        AttemptOutcome.RETRY
    ] * (webhooks.MAX_ATTEMPTS - 1) + [AttemptOutcome.FAILED]


@pytest.fixture
def hanging_receiver() -> Iterator[WebhookReceiver]:
    """A receiver that holds every request until its gate opens (at teardown)."""
    server = WebhookReceiver(gate=threading.Event()).start()
    try:
        yield server
    finally:
        server.gate.set()
        server.stop()


@pytest.mark.parametrize(
    ("shop_seconds", "host_seconds"),
    [(2.0, 1000.0), (1000.0, 2.0)],
    ids=["shop-budget", "host-budget"],
)
def test_hanging_endpoints_take_only_their_budget_and_another_shop_is_sent_in_the_batch(
    shop, other_shop, receiver, hanging_receiver, allow_private, settings, shop_seconds,
    host_seconds,
):  # fmt: skip
    # given shop A's five endpoints on a host that never answers, due first, and five
    # deliveries of shop B on another host (localhost and 127.0.0.1 are two host names)
    settings.WEBHOOK_SHOP_BATCH_SECONDS = shop_seconds
    settings.WEBHOOK_HOST_BATCH_SECONDS = host_seconds
    now = timezone.now()
    a = [
        queued_delivery(
            services.webhook_endpoint_create(
                shop_id=shop.pk, url=f"http://localhost:{hanging_receiver.port}/{n}"
            )[0],
            due_at=now - timedelta(minutes=1),
        )
        for n in range(5)
    ]
    b_endpoint, secret = services.webhook_endpoint_create(
        shop_id=other_shop.pk, url=f"{receiver.url}/b"
    )
    receiver.secrets["/b"] = secret
    b = [queued_delivery(b_endpoint, due_at=now) for _ in range(5)]

    # when one batch is sent
    result = services.webhook_deliveries_send_due(now=now)

    # then A's first attempt ran out of A's budget and A's other four were handed back
    # untried, while B's five reached B's receiver in that same batch
    assert sorted(r.event_id for r in receiver.at("/b")) == sorted(str(d.event_id) for d in b)
    assert (result.sent, result.retried, result.failed, result.postponed) == (5, 1, 0, 4)
    assert len(hanging_receiver.received) == 1
    rows = WebhookDelivery.objects.filter(pk__in=[d.pk for d in a])
    tried = [d for d in rows if d.attempts]
    assert len(tried) == 1
    assert tried[0].log.get().error == "Timed out after 2 s."
    assert (
        sorted((d.status, d.attempts, d.lease_until) for d in rows if not d.attempts)
        == [(SendStatus.QUEUED, 0, None)] * 4
    )
    assert WebhookAttempt.objects.filter(delivery__in=rows).count() == 1


def test_a_receiver_answering_nul_bytes_is_logged_and_another_shop_is_sent(
    shop, other_shop, receiver, allow_private
):
    # given shop A's receiver answering with NUL bytes (PostgreSQL text cannot hold them),
    # due first, and five deliveries of shop B on another receiver
    hostile = WebhookReceiver(answer=b"ok\x00\x00 then more").start()
    try:
        a_endpoint, _ = services.webhook_endpoint_create(shop_id=shop.pk, url=f"{hostile.url}/a")
        b_endpoint, secret = services.webhook_endpoint_create(
            shop_id=other_shop.pk, url=f"{receiver.url}/b"
        )
        receiver.secrets["/b"] = secret
        now = timezone.now()
        a = queued_delivery(a_endpoint, due_at=now - timedelta(minutes=1))
        b = [queued_delivery(b_endpoint, due_at=now) for _ in range(5)]

        # when one batch is sent
        result = services.webhook_deliveries_send_due(now=now)
    finally:
        hostile.stop()

    # then A's attempt is logged with the NULs replaced, and B's five are sent
    assert (result.sent, result.retried, result.failed, result.postponed) == (6, 0, 0, 0)
    assert sorted(r.event_id for r in receiver.at("/b")) == sorted(str(d.event_id) for d in b)
    assert a.log.get().response_body == "ok\ufffd\ufffd then more"


@pytest.mark.django_db(transaction=True)  # the deleted rows' foreign keys fail at commit
@pytest.mark.parametrize("status", [200, 500])
def test_an_endpoint_deleted_during_its_attempt_fails_no_other_shops_delivery(
    shop, other_shop, receiver, allow_private, monkeypatch, status
):
    # given shop A's endpoint that A deletes while its attempt is on the wire, due first,
    # and five deliveries of shop B in the same batch
    a_endpoint, _ = services.webhook_endpoint_create(shop_id=shop.pk, url=f"{receiver.url}/a")
    b_endpoint, secret = services.webhook_endpoint_create(
        shop_id=other_shop.pk, url=f"{receiver.url}/b"
    )
    receiver.secrets["/b"] = secret
    receiver.script = [status]
    post = webhooks.post

    def post_then_deleted(*, url, **kwargs):
        result = post(url=url, **kwargs)
        if url.endswith("/a"):
            services.webhook_endpoint_delete(endpoint=a_endpoint)
        return result

    monkeypatch.setattr(webhooks, "post", post_then_deleted)
    now = timezone.now()
    queued_delivery(a_endpoint, due_at=now - timedelta(minutes=1))
    b = [queued_delivery(b_endpoint, due_at=now) for _ in range(5)]

    # when one batch is sent
    result = services.webhook_deliveries_send_due(now=now)

    # then A's attempt is not recorded (its rows are gone) and B's five are sent
    assert (result.sent, result.unrecorded) == (5, 1)
    assert sorted(r.event_id for r in receiver.at("/b")) == sorted(str(d.event_id) for d in b)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {SendStatus.SENT}
    assert not WebhookEndpoint.objects.filter(pk=a_endpoint.pk).exists()
