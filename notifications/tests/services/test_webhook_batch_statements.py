"""The webhook sender's batch in SQL: one claim, one record, and each row's failure its own."""

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from notifications import services
from notifications.choices import AttemptOutcome, SendStatus
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.services import deliveries
from notifications.services.queues import WEBHOOK_LEASE

from ..receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


def _queue(endpoint: WebhookEndpoint, *, due_at, **fields) -> WebhookDelivery:
    event_id = uuid.uuid4()
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event_id,
        event_type="order.placed",
        payload={"event_id": str(event_id), "type": "order.placed", "data": {"n": 1}},
        next_attempt_at=due_at,
        **{"status": SendStatus.QUEUED, **fields},
    )


def _endpoint(shop, receiver: WebhookReceiver, path: str) -> WebhookEndpoint:
    endpoint, secret = services.webhook_endpoint_create(shop_id=shop.pk, url=receiver.url + path)
    receiver.secrets[path] = secret
    return endpoint


@contextmanager
def _statements() -> Iterator[list[str]]:
    """Every statement run on the connection, the ORM's and the prepared ones alike.

    Savepoints are left out: they stand for BEGIN and COMMIT inside the test's transaction.
    """
    seen: list[str] = []

    def note(execute, sql, params, many, context):
        if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
            seen.append(" ".join(sql.split())[:60])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        yield seen


@pytest.fixture
def second_receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("count", [1, 10])
def test_a_batch_is_claimed_in_one_statement_and_recorded_in_one(
    shop, other_shop, receiver, allow_private, count
):
    # given deliveries of two shops, one endpoint each, both failing since earlier
    a = _endpoint(shop, receiver, "/a")
    b = _endpoint(other_shop, receiver, "/b")
    WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(hours=1))
    now = timezone.now()
    rows = [_queue(a if n % 2 else b, due_at=now) for n in range(count)]

    # when one batch is sent
    with _statements() as statements:
        result = services.webhook_deliveries_send_due(now=now, limit=10)

    # then two statements: the claim and the record (deliveries, log and endpoints)
    assert result.sent == count
    assert [s.split(" ", 2)[:2] for s in statements] == [["WITH", "due"], ["WITH", "u"]]
    for row in rows:
        row.refresh_from_db()
        assert (row.status, row.attempts, row.lease_until, row.next_attempt_at) == (
            SendStatus.SENT,
            1,
            None,
            None,
        )
        assert (row.sent_at, row.last_status_code, row.last_error) == (now, 200, "")
        attempt = row.log.get()
        assert (attempt.number, attempt.url, attempt.started_at, attempt.status_code) == (
            1,
            row.endpoint.url,
            now,
            200,
        )
        assert (attempt.outcome, attempt.error, attempt.response_body) == (
            AttemptOutcome.SENT,
            "",
            "answered 200",
        )
    # each attempt logs the X-Request-ID its request carried
    assert {str(a.request_id) for a in WebhookAttempt.objects.all()} == {
        {k.lower(): v for k, v in r.headers.items()}["x-request-id"] for r in receiver.received
    }
    # an endpoint whose attempt succeeded is no longer failing (A has none with one row)
    assert WebhookEndpoint.objects.get(pk=b.pk).failing_since is None
    assert (WebhookEndpoint.objects.get(pk=a.pk).failing_since is None) == (count > 1)


def test_a_failing_endpoint_costs_two_statements_more_and_is_noted_failing(
    shop, receiver, allow_private
):
    # given an endpoint answering 500
    receiver.script = [500]
    endpoint = _endpoint(shop, receiver, "/a")
    now = timezone.now()
    row = _queue(endpoint, due_at=now)

    # when its delivery is sent
    with _statements() as statements:
        result = services.webhook_deliveries_send_due(now=now)

    # then: the claim, the record, failing_since noted, the endpoints locked for the window
    assert result.retried == 1
    assert len(statements) == 4
    assert statements[2].startswith("UPDATE notifications_webhookendpoint e SET failing_since")
    assert statements[3].startswith('SELECT "notifications_webhookendpoint"')
    endpoint.refresh_from_db()
    assert (endpoint.failing_since, endpoint.active) == (now, True)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == (
        SendStatus.QUEUED,
        1,
        500,
        "HTTP 500",
    )
    assert row.next_attempt_at > now
    assert row.log.get().next_attempt_at == row.next_attempt_at


def test_each_endpoints_last_recorded_attempt_decides_its_failure_record(
    shop, other_shop, receiver, second_receiver, allow_private
):
    # given two endpoints failing since yesterday: A answers 200 then 500, B 200
    yesterday = timezone.now() - timedelta(days=1)
    receiver.script = [200, 500]
    second_receiver.script = [200]
    a = _endpoint(shop, receiver, "/a")
    b = _endpoint(other_shop, second_receiver, "/b")
    WebhookEndpoint.objects.update(failing_since=yesterday)
    now = timezone.now()
    a_rows = [_queue(a, due_at=now - timedelta(seconds=2 - n)) for n in range(2)]
    c = _queue(b, due_at=now)

    # when one batch is sent
    result = services.webhook_deliveries_send_due(now=now)

    # then A's last attempt failed: it stays failing since yesterday; B's succeeded: cleared
    assert (result.sent, result.retried) == (2, 1)
    assert [r.log.get().outcome for r in a_rows] == [AttemptOutcome.SENT, AttemptOutcome.RETRY]
    assert c.log.get().outcome == AttemptOutcome.SENT
    assert WebhookEndpoint.objects.get(pk=a.pk).failing_since == yesterday
    assert WebhookEndpoint.objects.get(pk=b.pk).failing_since is None


@pytest.mark.django_db(transaction=True)
def test_a_row_whose_record_fails_stays_claimed_and_the_others_are_recorded(
    shop, other_shop, receiver, allow_private, monkeypatch
):
    # given shop A's attempt whose log row the database refuses (a negative duration),
    # due first, and five deliveries of shop B in the same batch
    a_endpoint = _endpoint(shop, receiver, "/a")
    b_endpoint = _endpoint(other_shop, receiver, "/b")
    post = deliveries._post

    def post_with_a_bad_duration(delivery, endpoint, **kwargs):
        result = post(delivery, endpoint, **kwargs)
        return replace(result, duration_ms=-1) if endpoint.pk == a_endpoint.pk else result

    monkeypatch.setattr(deliveries, "_post", post_with_a_bad_duration)
    now = timezone.now()
    a = _queue(a_endpoint, due_at=now - timedelta(minutes=1))
    b = [_queue(b_endpoint, due_at=now) for _ in range(5)]

    # when one batch is sent
    result = services.webhook_deliveries_send_due(now=now)

    # then B's five are recorded sent; A's row stays claimed, unlogged, until its lease ends
    assert (result.sent, result.unrecorded) == (5, 1)
    for row in b:
        row.refresh_from_db()
        assert (row.status, row.log.count()) == (SendStatus.SENT, 1)
    a.refresh_from_db()
    assert (a.status, a.attempts, a.lease_until) == (
        SendStatus.SENDING,
        1,
        now + WEBHOOK_LEASE,
    )
    assert not a.log.exists()


def test_the_claim_takes_due_rows_in_due_order_with_their_endpoints(
    shop, receiver, allow_private, django_assert_num_queries
):
    # given rows due at various times, one not yet due, one leased out and one whose
    # lease ended (its worker died), one sent
    endpoint = _endpoint(shop, receiver, "/a")
    now = timezone.now()
    second = _queue(endpoint, due_at=now - timedelta(seconds=10))
    first = _queue(endpoint, due_at=now - timedelta(seconds=20))
    _queue(endpoint, due_at=now + timedelta(seconds=1))
    _queue(
        endpoint,
        due_at=now - timedelta(seconds=30),
        status=SendStatus.SENDING,
        lease_until=now + timedelta(seconds=1),
    )
    orphan = _queue(
        endpoint,
        due_at=now - timedelta(seconds=5),
        status=SendStatus.SENDING,
        attempts=2,
        lease_until=now - timedelta(seconds=1),
    )
    _queue(endpoint, due_at=now - timedelta(seconds=40), status=SendStatus.SENT)

    # when a batch is claimed
    claimed = deliveries._claim(now=now, limit=10)

    # then each comes with its endpoint (no query to load it), its JSON as the ORM loads it
    with django_assert_num_queries(0):
        assert {d.endpoint.url for d in claimed} == {endpoint.url}
    assert claimed[0].payload == first.payload

    # ... the due ones, due first first, each marked as claimed in its row and instance
    assert [d.pk for d in claimed] == [first.pk, second.pk, orphan.pk]
    assert [(d.status, d.attempts, d.lease_until) for d in claimed] == [
        (SendStatus.SENDING, 1, now + WEBHOOK_LEASE),
        (SendStatus.SENDING, 1, now + WEBHOOK_LEASE),
        (SendStatus.SENDING, 3, now + WEBHOOK_LEASE),
    ]
    assert [
        (d.status, d.attempts, d.lease_until)
        for d in WebhookDelivery.objects.filter(pk__in=[d.pk for d in claimed]).order_by(
            "next_attempt_at"
        )
    ] == [(d.status, d.attempts, d.lease_until) for d in claimed]
    assert claimed[0].trace_context == {}
    assert deliveries._claim(now=now, limit=10) == []


@pytest.mark.django_db(transaction=True)
def test_two_senders_never_claim_the_same_row(shop, receiver, allow_private):
    # given six due rows, and another sender holding its claim of the first three open
    endpoint = _endpoint(shop, receiver, "/a")
    now = timezone.now()
    rows = [_queue(endpoint, due_at=now - timedelta(seconds=10 - n)) for n in range(6)]
    held, release = threading.Event(), threading.Event()
    theirs: list[uuid.UUID] = []

    def other_sender():
        try:
            with transaction.atomic():
                theirs.extend(d.pk for d in deliveries._claim(now=now, limit=3))
                held.set()
                release.wait(timeout=60)
        finally:
            held.set()
            connection.close()

    thread = threading.Thread(target=other_sender)
    thread.start()
    assert held.wait(timeout=60)

    # when this sender claims meanwhile
    try:
        mine = [d.pk for d in deliveries._claim(now=now, limit=10)]
    finally:
        release.set()
        thread.join(timeout=60)

    # then it skips the rows the other holds and takes the rest
    assert theirs == [r.pk for r in rows[:3]]
    assert mine == [r.pk for r in rows[3:]]
