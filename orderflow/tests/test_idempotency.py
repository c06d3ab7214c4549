"""The idempotency store on its own: one effect per (scope, key), replayed after."""

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from orderflow.idempotency import (
    IdempotencyKeyReused,
    RequestInFlight,
    idempotency_keys_purge,
    request_fingerprint,
    run_idempotent,
)
from orderflow.models import IdempotencyKey

pytestmark = pytest.mark.django_db


class Operation:
    """An operation that counts its runs and answers what it is told."""

    def __init__(self, status: int = 201, body: dict | None = None, error: Exception | None = None):
        self.status = status
        self.body = body if body is not None else {"id": 1}
        self.error = error
        self.runs = 0

    def __call__(self):
        self.runs += 1
        if self.error is not None:
            raise self.error
        return self.status, self.body


def _run(operation, *, key: str = "k-1", fingerprint: str = "f-1", scope: str = "shop:1"):
    return run_idempotent(scope=scope, key=key, fingerprint=fingerprint, operation=operation)


def test_runs_once_and_stores_the_response():
    operation = Operation(body={"id": 7})

    stored = _run(operation)

    assert (stored.status, stored.body, stored.replayed) == (201, {"id": 7}, False)
    assert operation.runs == 1
    row = IdempotencyKey.objects.get()
    assert (row.scope, row.key, row.fingerprint, row.response_status, row.response_body) == (
        "shop:1",
        "k-1",
        "f-1",
        201,
        {"id": 7},
    )
    ttl = row.expires_at - row.created_at
    assert timedelta(hours=23, minutes=59) < ttl <= timedelta(hours=24)


def test_replays_without_running_again():
    first = Operation(body={"id": 7})
    _run(first)
    second = Operation(body={"id": 8})

    stored = _run(second)

    assert (stored.status, stored.body, stored.replayed) == (201, {"id": 7}, True)
    assert second.runs == 0
    assert IdempotencyKey.objects.count() == 1


def test_refuses_another_request_under_the_same_key():
    _run(Operation())
    other = Operation()

    with pytest.raises(IdempotencyKeyReused) as refused:
        _run(other, fingerprint="f-2")

    assert (refused.value.status, refused.value.code) == (422, "idempotency-key-reused")
    assert other.runs == 0


def test_scopes_keep_their_keys_apart():
    _run(Operation(body={"id": 1}), scope="shop:1")

    stored = _run(Operation(body={"id": 2}), scope="shop:2", fingerprint="other")

    assert (stored.body, stored.replayed) == ({"id": 2}, False)
    assert IdempotencyKey.objects.count() == 2


def test_an_expired_key_runs_anew():
    _run(Operation(body={"id": 1}))
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    again = Operation(body={"id": 2})

    stored = _run(again, fingerprint="f-2")

    assert (stored.body, stored.replayed, again.runs) == ({"id": 2}, False, 1)
    assert IdempotencyKey.objects.get().response_body == {"id": 2}


@pytest.mark.parametrize("status", [400, 404, 409, 500])
def test_stores_no_key_for_an_answer_that_is_not_a_success(status):
    stored = _run(Operation(status=status, body={"error": True}))

    assert (stored.status, stored.replayed) == (status, False)
    assert IdempotencyKey.objects.count() == 0


def test_stores_no_key_when_the_operation_fails():
    with pytest.raises(ValueError, match="boom"):
        _run(Operation(error=ValueError("boom")))

    assert IdempotencyKey.objects.count() == 0


def test_a_failed_operation_rolls_back_its_writes():
    def write_then_fail():
        IdempotencyKey.objects.create(
            scope="elsewhere",
            key="x",
            fingerprint="x",
            response_status=200,
            response_body={},
            expires_at=timezone.now(),
        )
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        _run(write_then_fail)

    assert IdempotencyKey.objects.count() == 0


def test_tells_a_twin_that_the_first_request_is_in_flight():
    # another session holds the (scope, key) lock, as a request still running would
    params = connection.settings_dict
    with (
        psycopg.connect(
            dbname=params["NAME"],
            user=params["USER"],
            password=params["PASSWORD"],
            host=params["HOST"],
            port=params["PORT"] or 5432,
        ) as other,
        other.transaction(),
    ):
        other.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ["shop:1\x1fk-1"])
        twin = Operation()

        with pytest.raises(RequestInFlight) as refused:
            _run(twin)

    assert (refused.value.status, refused.value.code) == (409, "request-in-flight")
    assert refused.value.headers == {"Retry-After": "1"}
    assert twin.runs == 0
    assert IdempotencyKey.objects.count() == 0


def test_fingerprint_ignores_key_order_but_not_content():
    one = request_fingerprint(method="post", path="/api/v1/orders", payload={"a": 1, "b": [1, 2]})
    same = request_fingerprint(method="POST", path="/api/v1/orders", payload={"b": [1, 2], "a": 1})

    assert one == same
    assert one != request_fingerprint(method="POST", path="/api/v1/orders", payload={"a": 1})
    assert one != request_fingerprint(
        method="POST", path="/api/v1/products", payload={"a": 1, "b": [1, 2]}
    )
    assert one != request_fingerprint(
        method="POST", path="/api/v1/orders", payload={"a": 1, "b": [2, 1]}
    )


def test_purge_deletes_expired_keys_only_in_batches():
    now = timezone.now()
    for i in range(5):
        IdempotencyKey.objects.create(
            scope="shop:1",
            key=f"old-{i}",
            fingerprint="f",
            response_status=201,
            response_body={},
            expires_at=now - timedelta(minutes=1),
        )
    IdempotencyKey.objects.create(
        scope="shop:1",
        key="fresh",
        fingerprint="f",
        response_status=201,
        response_body={},
        expires_at=now + timedelta(hours=1),
    )

    deleted = idempotency_keys_purge(batch_size=2)

    assert deleted == 5
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
