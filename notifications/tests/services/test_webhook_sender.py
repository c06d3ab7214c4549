"""The webhook sender's batch: keep-alive connections, concurrency, one recording transaction."""

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import services, webhooks
from notifications.choices import SendStatus
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.services import deliveries
from notifications.tests.deliveries import queued_delivery
from testkit.factories import ShopFactory

from ..receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


def _endpoint(shop, receiver: WebhookReceiver, path: str, *, host: str = "") -> WebhookEndpoint:
    url = f"http://{host}:{receiver.port}{path}" if host else receiver.url + path
    endpoint, secret = services.webhook_endpoint_create(shop_id=shop.pk, url=url)
    receiver.secrets[path] = secret
    return endpoint


def test_keep_alive_sends_a_batch_to_one_receiver_over_one_connection(
    shop, receiver, allow_private
):
    endpoint = _endpoint(shop, receiver, "/in")
    rows = [queued_delivery(endpoint, due_at=timezone.now()) for _ in range(8)]

    result = services.webhook_deliveries_send_due(limit=10)

    assert result.sent == 8
    assert sorted(r.event_id for r in receiver.at("/in")) == sorted(str(d.event_id) for d in rows)
    assert all(r.verified for r in receiver.received)
    assert receiver.connections == 1


def test_keep_alive_reuses_the_connection_across_batches(shop, receiver, allow_private):
    endpoint = _endpoint(shop, receiver, "/in")
    for _ in range(3):
        queued_delivery(endpoint, due_at=timezone.now())
        assert services.webhook_deliveries_send_due().sent == 1

    assert len(receiver.received) == 3
    assert receiver.connections == 1


def test_a_stopped_receiver_is_a_retry_not_a_reused_dead_connection(shop, receiver, allow_private):
    endpoint = _endpoint(shop, receiver, "/in")
    queued_delivery(endpoint, due_at=timezone.now())
    assert services.webhook_deliveries_send_due().sent == 1
    receiver.stop()
    delivery = queued_delivery(endpoint, due_at=timezone.now())

    assert services.webhook_deliveries_send_due().retried == 1

    delivery.refresh_from_db()
    assert delivery.log.get().status_code is None


@pytest.fixture
def commits(monkeypatch) -> list[str]:
    """Every commit of this test's connection (the test must commit: transaction=True)."""
    seen: list[str] = []
    commit = connection.commit

    def counting_commit():
        seen.append("commit")
        return commit()

    monkeypatch.setattr(connection, "commit", counting_commit)
    return seen


@pytest.mark.django_db(transaction=True)
def test_a_batchs_outcomes_are_recorded_in_one_transaction(
    shop, other_shop, receiver, allow_private, commits
):
    # given six deliveries of two shops
    a = _endpoint(shop, receiver, "/a")
    b = _endpoint(other_shop, receiver, "/b")
    rows = [queued_delivery(a, due_at=timezone.now()) for _ in range(3)]
    rows += [queued_delivery(b, due_at=timezone.now()) for _ in range(3)]
    commits.clear()
    claims_in_autocommit: list[bool] = []

    def watch(execute, sql, params, many, context):
        if str(sql).lstrip().startswith("WITH due AS"):
            claims_in_autocommit.append(connection.get_autocommit())
        return execute(sql, params, many, context)

    # when one batch is sent
    with connection.execute_wrapper(watch):
        result = services.webhook_deliveries_send_due(limit=10)

    # then the claim is its own transaction (autocommit: committed before any request is
    # sent, in the one round trip), and the record of all six one more
    assert result.sent == 6
    assert claims_in_autocommit == [True]
    assert commits == ["commit"]
    assert WebhookAttempt.objects.count() == 6
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {SendStatus.SENT}
    assert {d.pk for d in rows} == set(WebhookDelivery.objects.values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
def test_the_record_costs_the_same_statements_for_one_delivery_or_ten(
    shop, other_shop, receiver, allow_private
):
    a = _endpoint(shop, receiver, "/a")
    b = _endpoint(other_shop, receiver, "/b")

    def record_statements(count: int) -> int:
        for n in range(count):
            queued_delivery(a if n % 2 else b, due_at=timezone.now())
        with CaptureQueriesContext(connection) as queries:
            assert services.webhook_deliveries_send_due(limit=count).sent == count
        return len(queries)

    assert record_statements(1) == record_statements(10)


@pytest.fixture
def hanging_receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(gate=threading.Event()).start()
    try:
        yield server
    finally:
        server.gate.set()
        server.stop()


def test_an_endpoint_that_hangs_does_not_hold_another_shops_rows(
    shop, other_shop, receiver, hanging_receiver, allow_private, monkeypatch
):
    # given shop A's endpoint that holds every request until its gate opens, due first,
    # and five deliveries of shop B on another host (localhost and 127.0.0.1 are two names)
    a_endpoint = _endpoint(shop, hanging_receiver, "/a", host="localhost")
    b_endpoint = _endpoint(other_shop, receiver, "/b")
    now = timezone.now()
    queued_delivery(a_endpoint, due_at=now - timedelta(minutes=1))
    b = [queued_delivery(b_endpoint, due_at=now) for _ in range(5)]
    finished: list[str] = []
    post = webhooks.post

    def noting_post(*, url, **kwargs):
        result = post(url=url, **kwargs)
        finished.append(url.rsplit("/", 1)[-1])
        return result

    monkeypatch.setattr(webhooks, "post", noting_post)
    seen = {}

    def observe():
        # B's five arrive while A's request is still held, then A is let go
        seen["b_arrived"] = receiver.wait_for(5, path="/b", timeout=60)
        seen["a_unfinished"] = "a" not in finished
        hanging_receiver.gate.set()

    observer = threading.Thread(target=observe, daemon=True)
    observer.start()

    # when one batch is sent
    result = services.webhook_deliveries_send_due(now=now)
    observer.join(timeout=60)

    # then B's rows did not wait for A's attempt to end, and all six are sent
    assert seen == {"b_arrived": True, "a_unfinished": True}
    assert sorted(r.event_id for r in receiver.at("/b")) == sorted(str(d.event_id) for d in b)
    assert (result.sent, result.retried) == (6, 0)


def test_independent_groups_share_no_shop_and_no_host(shop, other_shop, allow_private):
    third = ShopFactory()
    one = services.webhook_endpoint_create(shop_id=shop.pk, url="http://127.0.0.1:9/x")[0]
    two = services.webhook_endpoint_create(shop_id=other_shop.pk, url="http://127.0.0.1:9/y")[0]
    three = services.webhook_endpoint_create(shop_id=third.pk, url="http://localhost:9/z")[0]
    rows = [queued_delivery(e, due_at=timezone.now()) for e in (one, two, three, one)]
    for row in rows:
        row.endpoint = WebhookEndpoint.objects.get(pk=row.endpoint_id)

    groups = deliveries._independent_groups(rows)

    # one and two share a host; three is alone
    assert [[d.pk for d in g] for g in groups] == [
        [rows[0].pk, rows[1].pk, rows[3].pk],
        [rows[2].pk],
    ]
