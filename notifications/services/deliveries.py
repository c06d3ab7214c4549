"""Webhook deliveries: one per (event, endpoint), sent on a schedule, logged, replayable.

Fan-out runs in the notifications projector's batch (``projection.py``): one statement
for the batch, the unique (event, endpoint) key making a re-applied event add nothing.
Sending runs in a Celery task kicked on commit: due rows are claimed with ``SKIP
LOCKED`` and a lease, attempted once each, and rescheduled in the row.

Each row keeps the trace context of the event's delivery that created it, so its POSTs,
in whichever worker and however much later, show in the order's trace.
"""

import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from orderflow.events import publish
from orderflow.events.workqueue import execute_planned, execute_prepared, model_from_row
from orderflow.observability import tracing

from .. import inbox, metrics, webhooks
from ..choices import AttemptOutcome, SendStatus
from ..events import WebhookEndpointDisabled
from ..exceptions import EndpointInactive
from ..models import OPEN, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .queues import ATTEMPT_BUDGET_SECONDS, WEBHOOK_LEASE, WEBHOOKS, SendResult

#: Deliveries claimed at once. Each batch costs a claim and a record statement and their
#: bookkeeping whatever its size: 10 a batch cost 0.66 to 0.80 ms of the sender's CPU per
#: delivery, 50 a batch 0.56 (``python -m devtools.webhook_send_cpu 200 --batch N``). A
#: batch takes no longer in the worst case for it: the shop's and host's budgets and the
#: lease bound each attempt, and what they leave untried goes back for the next batch.
BATCH_SIZE = 50
LEASE = WEBHOOK_LEASE
DRAIN_SECONDS = 10.0
#: An attempt is started only with at least this much of its shop's and host's batch
#: budget left; its timeout is what is left (at most webhooks.TIMEOUT_SECONDS).
MIN_ATTEMPT_SECONDS = 0.5
#: groups of a batch (sharing no shop and no host) sent at once, each on its own thread
SENDER_THREADS = 8

logger = logging.getLogger(__name__)


# --- sending ---
@dataclass
class _Outcome:
    """What became of one claimed delivery in a batch; written with the others at once."""

    delivery: WebhookDelivery
    #: AttemptOutcome for an attempt, else "postponed" or "skipped"
    kind: str
    at: datetime
    until: datetime | None = None
    request_id: uuid.UUID | None = None
    result: webhooks.AttemptResult | None = None

    @property
    def attempted(self) -> bool:
        return self.result is not None


POSTPONED = "postponed"


def webhook_deliveries_send_due(
    *, now: datetime | None = None, limit: int = BATCH_SIZE
) -> SendResult:
    """Claim one batch of due deliveries, attempt each once within budgets, record them at once.

    The claim commits (synchronously) before anything is sent. The batch is split into
    groups that share no shop and no destination host; groups are sent concurrently on
    at most SENDER_THREADS threads, each group's deliveries one after another over the
    process's keep-alive connections. Each shop, and each destination host, may take
    WEBHOOK_SHOP_BATCH_SECONDS and WEBHOOK_HOST_BATCH_SECONDS of the batch: an attempt's
    timeout is the least of what is left of both, and a delivery whose shop or host has
    less than MIN_ATTEMPT_SECONDS left is handed back untried for the next batch. So one
    shop's hanging endpoints (or one hanging host that many shops use) delay only their
    own group, never another shop's deliveries. Every outcome is then written in ONE
    transaction (:func:`_record_batch`).

    ``now`` stands for the clock (tests move it instead of sleeping); the signature's
    timestamp is always the real time of sending.
    """
    # measured from before the claim, so the lease (set from the same moment) ends later
    lease_ends = time.monotonic() + LEASE.total_seconds()
    claimed = _claim(now=now or timezone.now(), limit=limit)
    if not claimed:
        return SendResult()
    groups = _independent_groups(claimed)
    send = partial(_send_group, now=now, lease_ends=lease_ends)
    if len(groups) == 1:
        outcomes = send(groups[0])
    else:
        outcomes = [o for group in _sender_pool().map(send, groups) for o in group]
    recorded = _record_isolated(outcomes)
    return _count(outcomes, recorded)


#: each calling thread's sender threads (see _sender_pool)
_senders = threading.local()


def _sender_pool() -> ThreadPoolExecutor:
    """The calling thread's pool of SENDER_THREADS threads, kept from batch to batch.

    Starting a batch's threads anew cost more CPU than their groups' bookkeeping. A pool
    per calling thread, so that two callers in one process (eager kicks in threads) never
    wait for each other's groups, as with a pool per batch.
    """
    pool = getattr(_senders, "pool", None)
    if pool is None:
        pool = _senders.pool = ThreadPoolExecutor(
            max_workers=SENDER_THREADS, thread_name_prefix="webhook-send"
        )
    return pool


def _forget_sender_pools() -> None:
    # A forked child has none of its parent's threads, yet their pool would count them as
    # idle and queue the child's groups for them forever: the child starts its own.
    global _senders
    _senders = threading.local()


os.register_at_fork(after_in_child=_forget_sender_pools)


def webhook_deliveries_drain(*, max_seconds: float = DRAIN_SECONDS) -> SendResult:
    """Send batches until nothing is due or ``max_seconds`` have passed (the engine's loop)."""
    return WEBHOOKS.drain(
        webhook_deliveries_send_due,
        total=SendResult(),
        max_seconds=max_seconds,
        batch_size=BATCH_SIZE,
    )


def webhook_deliveries_due_exist(now: datetime | None = None) -> bool:
    return WEBHOOKS.due_exists(now)


# --- claiming a batch ---
_DELIVERY = WebhookDelivery._meta
_ENDPOINT = WebhookEndpoint._meta

#: The claim as one prepared statement, the endpoints joined: the ORM would compile its
#: two statements, and PostgreSQL plan them, on every batch. The rows WEBHOOKS.claim takes.
_CLAIM_SQL = f"""
WITH due AS (
    SELECT d.id FROM {_DELIVERY.db_table} d
    WHERE (d.status = '{SendStatus.QUEUED}' AND d.next_attempt_at <= %(now)s)
       OR (d.status = '{SendStatus.SENDING}' AND d.lease_until < %(now)s)
    ORDER BY d.next_attempt_at, d.id
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE {_DELIVERY.db_table} d
SET status = '{SendStatus.SENDING}', attempts = d.attempts + 1, lease_until = %(lease_until)s
FROM due, {_ENDPOINT.db_table} e
WHERE d.id = due.id AND e.id = d.endpoint_id
RETURNING {", ".join(f"d.{f.column}" for f in _DELIVERY.concrete_fields)},
          {", ".join(f"e.{f.column}" for f in _ENDPOINT.concrete_fields)}
"""  # noqa: S608 (table and column names come from the models, values are parameters)


def _claim(*, now: datetime, limit: int) -> list[WebhookDelivery]:
    """Claim up to ``limit`` due deliveries with their endpoints; commit before returning.

    Claim order (due time, then id), as :meth:`WorkQueue.claim` returns them.
    """
    if connection.vendor != "postgresql":
        return WEBHOOKS.claim(
            queryset=WebhookDelivery.objects.select_related("endpoint"), now=now, limit=limit
        )
    params = {"now": now, "lease_until": WEBHOOKS.lease_until(now), "limit": limit}
    # in autocommit the statement is its own transaction, committed (and flushed) before
    # a request leaves: one round trip, not three
    rows = execute_prepared(_CLAIM_SQL, params)
    split = len(_DELIVERY.concrete_fields)
    claimed = []
    for row in rows:
        delivery = model_from_row(WebhookDelivery, row[:split])
        delivery.endpoint = model_from_row(WebhookEndpoint, row[split:])
        claimed.append(delivery)
    # a leased-out row may have no due time: it sorts last, as in PostgreSQL
    claimed.sort(key=lambda d: (d.next_attempt_at is None, d.next_attempt_at or now, d.pk))
    return claimed


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _independent_groups(deliveries: list[WebhookDelivery]) -> list[list[WebhookDelivery]]:
    """Split the batch into groups sharing no shop and no host, each in claim order.

    A shop's budget and a host's budget are then each spent by one group only, one
    attempt after another, exactly as in a batch sent alone.
    """
    parent: dict[tuple, tuple] = {}

    def root(key: tuple) -> tuple:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for delivery in deliveries:
        shop = root(("shop", delivery.endpoint.shop_id))
        host = root(("host", _host(delivery.endpoint.url)))
        parent[host] = shop
    groups: dict[tuple, list[WebhookDelivery]] = {}
    for delivery in deliveries:
        groups.setdefault(root(("shop", delivery.endpoint.shop_id)), []).append(delivery)
    return list(groups.values())


def _send_group(
    deliveries: list[WebhookDelivery], *, now: datetime | None, lease_ends: float
) -> list[_Outcome]:
    """Attempt a group's deliveries in order; no database here (it runs on any thread)."""
    outcomes = []
    # An endpoint that just failed is not tried again in this batch: its other
    # deliveries wait for its retry instead of each spending a timeout on it.
    held_until: dict[uuid.UUID, datetime] = {}
    shop_left: dict[int, float] = defaultdict(lambda: settings.WEBHOOK_SHOP_BATCH_SECONDS)
    host_left: dict[str, float] = defaultdict(lambda: settings.WEBHOOK_HOST_BATCH_SECONDS)
    for delivery in deliveries:
        at = now or timezone.now()
        endpoint = delivery.endpoint
        if delivery.endpoint_id in held_until:
            outcomes.append(_Outcome(delivery, POSTPONED, at, until=held_until[endpoint.pk]))
            continue
        if not endpoint.active:
            outcomes.append(_Outcome(delivery, SendStatus.SKIPPED, at))
            continue
        if time.monotonic() + ATTEMPT_BUDGET_SECONDS > lease_ends:
            # another worker may claim the row once the lease ends: never send it then
            outcomes.append(_Outcome(delivery, POSTPONED, at, until=at))
            continue
        shop_id, host = endpoint.shop_id, _host(endpoint.url)
        timeout = min(webhooks.TIMEOUT_SECONDS, shop_left[shop_id], host_left[host])
        if timeout < MIN_ATTEMPT_SECONDS:
            # its shop or host has had its share of the batch
            outcomes.append(_Outcome(delivery, POSTPONED, at, until=at))
            continue
        started = time.monotonic()
        request_id = uuid.uuid4()
        if delivery.attempts > webhooks.MAX_ATTEMPTS:
            # claimed again after lost leases (a worker killed mid-attempt, each time)
            result = webhooks.AttemptResult(
                AttemptOutcome.FAILED, None, "", 0, "No attempt finished."
            )
        else:
            result = _post_isolated(
                delivery, endpoint, request_id=request_id, now=at, timeout=timeout
            )
        spent = time.monotonic() - started
        shop_left[shop_id] -= spent
        host_left[host] -= spent
        outcome = result.outcome
        if outcome == AttemptOutcome.RETRY and delivery.attempts >= webhooks.MAX_ATTEMPTS:
            outcome = AttemptOutcome.FAILED
        next_at = (
            at + webhooks.retry_delay(delivery.attempts)
            if outcome == AttemptOutcome.RETRY
            else None
        )
        if next_at is not None:
            held_until[endpoint.pk] = next_at
        outcomes.append(
            _Outcome(delivery, outcome, at, until=next_at, request_id=request_id, result=result)
        )
    return outcomes


def _post_isolated(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    *,
    request_id: uuid.UUID,
    now: datetime,
    timeout: float,
) -> webhooks.AttemptResult:
    """POST the delivery once; whatever the attempt raises is this delivery's failure alone.

    The batch holds other deliveries, other shops' among them: an exception escaping here
    would leave them all claimed and unsent until their lease ran out (a URL the HTTP
    client refused did so, batch after batch). The error is kept in the attempt log and
    retried on the delivery's own schedule, which ends in ``failed``.
    """
    started = time.monotonic()
    try:
        return _post(delivery, endpoint, request_id=request_id, now=now, timeout=timeout)
    except Exception as error:  # any failure of one send is that row's alone
        logger.exception("Webhook attempt raised", extra={"delivery_id": str(delivery.pk)})
        return webhooks.AttemptResult(
            outcome=AttemptOutcome.RETRY,
            status_code=None,
            response_body="",
            duration_ms=round((time.monotonic() - started) * 1000),
            error=f"Unexpected {type(error).__name__}: {error}"[:1000],
        )


def _post(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    *,
    request_id: uuid.UUID,
    now: datetime,
    timeout: float,
) -> webhooks.AttemptResult:
    """POST the delivery once, in a span of the trace of the event that queued it."""
    body = webhooks.encode_body(delivery.payload)
    with tracing.client_span(
        "webhook POST",
        trace_context=delivery.trace_context,
        attributes={
            "http.request.method": "POST",
            # the host only: a shop's URL may carry a token in its path or query
            "server.address": urlsplit(endpoint.url).hostname or "",
            "messaging.message.id": str(delivery.event_id),
            "orderflow.webhook.delivery_id": str(delivery.pk),
            "orderflow.webhook.endpoint_id": str(endpoint.pk),
            "orderflow.attempt": delivery.attempts,
            "orderflow.request_id": str(request_id),
        },
    ):
        return webhooks.post(
            url=endpoint.url,
            body=body,
            headers=webhooks.signed_headers(
                secrets=endpoint.signing_secrets(now), msg_id=str(delivery.event_id), body=body
            ),
            request_id=request_id,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE or inbox.is_inbox_url(endpoint.url),
            timeout=timeout,
        )


# --- recording a batch ---
def _record_isolated(outcomes: list[_Outcome]) -> set[uuid.UUID]:
    """Write the batch's outcomes in one transaction; return the ids written.

    Should that transaction fail, each outcome is written in its own, so that one row's
    failure of any kind stays that row's alone (it stays claimed, if it still exists, and
    is claimed again when its lease ends).
    """
    try:
        with transaction.atomic():
            recorded = _record_batch(outcomes)
    except Exception:
        logger.exception("Webhook batch not recorded at once; recording row by row")
    else:
        _count_metrics(outcomes, recorded)
        return recorded
    recorded = set()
    for outcome in outcomes:
        try:
            with transaction.atomic():
                recorded |= _record_batch([outcome])
        except Exception:  # one row's write failing is that row's alone, as its send is
            logger.exception(
                "Webhook attempt not recorded", extra={"delivery_id": str(outcome.delivery.pk)}
            )
    _count_metrics(outcomes, recorded)
    return recorded


def _count_metrics(outcomes: list[_Outcome], recorded: set[uuid.UUID]) -> None:
    """Count each attempt once its log row is written, with the outcome it was logged with."""
    for o in outcomes:
        if o.attempted and o.delivery.pk in recorded:
            metrics.record_webhook_delivery(outcome=o.kind, seconds=o.result.duration_ms / 1000)


def _clean(text: str, limit: int | None = None) -> str:
    # A receiver chooses these bytes; PostgreSQL text cannot hold NUL
    text = text.replace("\x00", "\ufffd")
    return text[:limit] if limit else text


#: A batch's record as one statement of one JSON parameter (a row per outcome): the
#: deliveries updated, the attempts of those still there logged, and the failure record
#: cleared of each endpoint whose last recorded attempt succeeded. One document binds in a
#: fraction of what a list per column costs (quoting each element in Python). Planned for
#: each batch (``execute_planned``): under a generic plan, made without the document, it
#: ran ten times slower.
_RECORD_SQL = f"""
WITH u AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS u(
        ord integer, id uuid, endpoint_id uuid, status text, next_at timestamptz,
        attempted boolean, postponed boolean, status_code integer, error text,
        sent_at timestamptz, number integer, request_id uuid, url text,
        started_at timestamptz, duration_ms integer, response_body text,
        attempt_error text, outcome text
    )
), updated AS (
    UPDATE {_DELIVERY.db_table} d SET
        status = u.status,
        attempts = d.attempts - CASE WHEN u.postponed THEN 1 ELSE 0 END,
        lease_until = NULL,
        next_attempt_at = u.next_at,
        last_status_code = CASE WHEN u.attempted THEN u.status_code ELSE d.last_status_code END,
        last_error = CASE WHEN u.attempted THEN u.error ELSE d.last_error END,
        sent_at = COALESCE(u.sent_at, d.sent_at)
    FROM u
    WHERE d.id = u.id
    RETURNING d.id
), logged AS (
    INSERT INTO {WebhookAttempt._meta.db_table} (
        delivery_id, number, request_id, url, started_at, duration_ms, status_code,
        response_body, error, outcome, next_attempt_at
    )
    SELECT u.id, u.number, u.request_id, u.url, u.started_at, u.duration_ms, u.status_code,
           u.response_body, u.attempt_error, u.outcome, u.next_at
    FROM u JOIN updated ON updated.id = u.id
    WHERE u.attempted
), last AS (
    SELECT DISTINCT ON (u.endpoint_id) u.endpoint_id, u.outcome
    FROM u JOIN updated ON updated.id = u.id
    WHERE u.attempted
    ORDER BY u.endpoint_id, u.ord DESC
), cleared AS (
    UPDATE {_ENDPOINT.db_table} e SET failing_since = NULL
    FROM last
    WHERE e.id = last.endpoint_id AND last.outcome = '{AttemptOutcome.SENT}'
      AND e.failing_since IS NOT NULL
)
SELECT id FROM updated
"""  # noqa: S608 (table names come from the models, values are the parameter)


def _record_batch(outcomes: list[_Outcome]) -> set[uuid.UUID]:
    """Write every outcome: deliveries, attempts and cleared endpoints in one statement.

    A delivery deleted meanwhile (its endpoint deleted while the attempt was on the wire)
    is simply not written, and its attempt not logged. Returns the ids written. An
    endpoint failing after the batch costs up to two statements more (:func:`_endpoints_failing`).
    """
    if connection.vendor != "postgresql":
        recorded = _record_orm(outcomes)
        _endpoints_after([o for o in outcomes if o.attempted and o.delivery.pk in recorded])
        return recorded
    rows = orjson.dumps([_record_row(n, o) for n, o in enumerate(outcomes)]).decode()
    recorded = {row[0] for row in execute_planned(_RECORD_SQL, {"rows": rows})}
    _, failing, last = _last_attempts(
        [o for o in outcomes if o.attempted and o.delivery.pk in recorded]
    )
    _endpoints_failing(failing, last)
    return recorded


def _record_row(ordinal: int, o: _Outcome) -> dict[str, Any]:
    """One outcome as a row of :data:`_RECORD_SQL`'s document (absent keys are NULL)."""
    row: dict[str, Any] = {
        "ord": ordinal,
        "id": o.delivery.pk,
        "endpoint_id": o.delivery.endpoint_id,
        "status": _status(o),
        "next_at": o.until,
        "attempted": o.attempted,
        "postponed": o.kind == POSTPONED,
        "sent_at": o.at if o.kind == AttemptOutcome.SENT else None,
    }
    if o.attempted:
        row |= {
            "status_code": o.result.status_code,
            "error": _clean(o.result.error),
            "number": o.delivery.attempts,
            "request_id": o.request_id,
            "url": o.delivery.endpoint.url,
            "started_at": o.at,
            "duration_ms": o.result.duration_ms,
            "response_body": _clean(o.result.response_body),
            "attempt_error": _clean(o.result.error, 1000),
            "outcome": o.kind,
        }
    return row


def _status(outcome: _Outcome) -> str:
    if outcome.kind == POSTPONED or outcome.kind == AttemptOutcome.RETRY:
        return SendStatus.QUEUED
    if outcome.kind == AttemptOutcome.SENT:
        return SendStatus.SENT
    if outcome.kind == AttemptOutcome.FAILED:
        return SendStatus.FAILED
    return SendStatus.SKIPPED


def _record_orm(outcomes: list[_Outcome]) -> set[uuid.UUID]:
    """The deliveries' and attempts' writes through the ORM, row by row (SQLite: embedded mode)."""
    recorded = set()
    for o in outcomes:
        changes: dict[str, Any] = {
            "status": _status(o),
            "lease_until": None,
            "next_attempt_at": o.until,
        }
        if o.kind == POSTPONED:
            changes["attempts"] = o.delivery.attempts - 1
        if o.attempted:
            changes |= {
                "last_status_code": o.result.status_code,
                "last_error": _clean(o.result.error),
            }
        if o.kind == AttemptOutcome.SENT:
            changes["sent_at"] = o.at
        if not WebhookDelivery.objects.filter(pk=o.delivery.pk).update(**changes):
            continue
        recorded.add(o.delivery.pk)
        if o.attempted:
            WebhookAttempt.objects.create(
                delivery_id=o.delivery.pk,
                number=o.delivery.attempts,
                request_id=o.request_id,
                url=o.delivery.endpoint.url,
                started_at=o.at,
                duration_ms=o.result.duration_ms,
                status_code=o.result.status_code,
                response_body=_clean(o.result.response_body),
                error=_clean(o.result.error, 1000),
                outcome=o.kind,
                next_attempt_at=o.until,
            )
    return recorded


def _last_attempts(
    attempted: list[_Outcome],
) -> tuple[list[uuid.UUID], dict[uuid.UUID, _Outcome], dict[uuid.UUID, _Outcome]]:
    """Endpoints whose last attempt in the batch succeeded; those failing, by their first
    failure since the last success; and each endpoint's last attempt."""
    last: dict[uuid.UUID, _Outcome] = {}
    first_failure: dict[uuid.UUID, _Outcome] = {}
    for o in attempted:
        endpoint_id = o.delivery.endpoint_id
        last[endpoint_id] = o
        if o.kind == AttemptOutcome.SENT:
            first_failure.pop(endpoint_id, None)
        else:
            first_failure.setdefault(endpoint_id, o)
    succeeded = [pk for pk, o in last.items() if o.kind == AttemptOutcome.SENT]
    failing = {pk: first_failure[pk] for pk, o in last.items() if o.kind != AttemptOutcome.SENT}
    return succeeded, failing, last


def _endpoints_after(attempted: list[_Outcome]) -> None:
    """Clear or note each endpoint's failure record by its last attempt in the batch.

    A success clears ``failing_since``; a failure sets it (to its first failure since
    the last success) and disables an endpoint failing for WEBHOOK_DISABLE_AFTER_HOURS.
    (PostgreSQL clears in the record's statement and calls :func:`_endpoints_failing`.)
    """
    succeeded, failing, last = _last_attempts(attempted)
    if succeeded:
        WebhookEndpoint.objects.filter(pk__in=succeeded, failing_since__isnull=False).update(
            failing_since=None
        )
    _endpoints_failing(failing, last)


def _endpoints_failing(failing: dict[uuid.UUID, _Outcome], last: dict[uuid.UUID, _Outcome]) -> None:
    """Note when each failing endpoint began to fail; disable those failing for the window.

    Two statements for any number of failing endpoints; one more per endpoint disabled.
    """
    if not failing:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE notifications_webhookendpoint e SET failing_since = f.at"
                " FROM unnest(%s::uuid[], %s::timestamptz[]) AS f(id, at)"
                " WHERE e.id = f.id AND e.failing_since IS NULL",
                [list(failing), [o.at for o in failing.values()]],
            )
    else:
        for pk, o in failing.items():
            WebhookEndpoint.objects.filter(pk=pk, failing_since__isnull=True).update(
                failing_since=o.at
            )
    window = timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
    for endpoint in WebhookEndpoint.objects.select_for_update().filter(
        pk__in=list(failing), active=True, failing_since__isnull=False
    ):
        latest = last[endpoint.pk]
        if latest.at - endpoint.failing_since >= window:
            _endpoint_disable(endpoint, now=latest.at, error=_clean(latest.result.error))


def _endpoint_disable(endpoint: WebhookEndpoint, *, now: datetime, error: str) -> None:
    """Disable an endpoint failing for the whole window, and tell its shop (an event)."""
    endpoint.active = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = (
        f"Every attempt failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC; last: {error}"
    )[:500]
    endpoint.save(update_fields=["active", "disabled_at", "disabled_reason", "updated_at"])
    publish(
        WebhookEndpointDisabled(
            endpoint_id=endpoint.pk,
            shop_id=endpoint.shop_id,
            url=endpoint.url,
            failing_since=endpoint.failing_since,
            last_error=error[:500],
        )
    )


def _count(outcomes: list[_Outcome], recorded: set[uuid.UUID]) -> SendResult:
    result = SendResult()
    for o in outcomes:
        if o.delivery.pk not in recorded:
            result.unrecorded += 1
        elif o.kind == POSTPONED:
            result.postponed += 1
        elif o.kind == AttemptOutcome.SENT:
            result.sent += 1
        elif o.kind == AttemptOutcome.RETRY:
            result.retried += 1
        elif o.kind == AttemptOutcome.FAILED:
            result.failed += 1
        else:
            result.skipped += 1
    return result


# --- replay and retention ---
@transaction.atomic
def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again, as a fresh first attempt (webhook-id stays the event id)."""
    if not delivery.endpoint.active:
        raise EndpointInactive("Enable the endpoint before replaying its deliveries.")
    if delivery.status not in OPEN:
        _requeue(WebhookDelivery.objects.filter(pk=delivery.pk))
        WEBHOOKS.kick.after_commit()
    delivery.refresh_from_db()
    return delivery


@transaction.atomic
def webhook_deliveries_replay_since(*, endpoint: WebhookEndpoint, since: datetime) -> int:
    """Send every delivery of the endpoint since ``since`` again; return how many."""
    if not endpoint.active:
        raise EndpointInactive("Enable the endpoint before replaying its deliveries.")
    replayed = _requeue(
        WebhookDelivery.objects.filter(endpoint=endpoint, created_at__gte=since).exclude(
            status__in=OPEN
        )
    )
    if replayed:
        WEBHOOKS.kick.after_commit()
    return replayed


def _requeue(deliveries: QuerySet) -> int:
    now = timezone.now()
    return deliveries.update(
        status=SendStatus.QUEUED,
        attempts=0,
        next_attempt_at=now,
        lease_until=None,
        replayed_at=now,
    )


def webhook_deliveries_purge(*, older_than_days: int | None = None, batch_size: int = 2000) -> int:
    """Delete finished deliveries (and their log) older than WEBHOOK_RETENTION_DAYS."""
    days = settings.WEBHOOK_RETENTION_DAYS if older_than_days is None else older_than_days
    old = WebhookDelivery.objects.filter(
        created_at__lt=timezone.now() - timedelta(days=days)
    ).exclude(status__in=OPEN)
    deleted = 0
    while ids := list(old.values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            WebhookDelivery.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return deleted
