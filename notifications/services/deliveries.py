"""Webhook deliveries: one per (event, endpoint), sent on a schedule, logged, replayable.

Fan-out runs in the notifications projector's batch (``projection.py``): one statement
for the batch, the unique (event, endpoint) key making a re-applied event add nothing.
Sending runs in a Celery task kicked on commit: due rows are claimed with ``SKIP
LOCKED`` and a lease, attempted once each, and rescheduled in the row.

Each row keeps the trace context of the event's delivery that created it, so its POSTs,
in whichever worker and however much later, show in the order's trace.
"""

import logging
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from orderflow import metrics, tracing
from orderflow.events import publish

from .. import webhooks
from ..choices import AttemptOutcome, SendStatus
from ..events import WebhookEndpointDisabled
from ..exceptions import EndpointInactive
from ..models import OPEN, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .dispatch import WEBHOOK_TASK, SendResult, claim_due, due, kick_after_commit

BATCH_SIZE = 10
#: an attempt's worst case: its POST's whole timeout, then the commit of its record
ATTEMPT_BUDGET_SECONDS = webhooks.TIMEOUT_SECONDS + 5
#: How long a claimed batch is held, and so how long a killed worker's claims wait before
#: another worker takes them. Attempts run one after another, and a batch starts one only
#: while it can still finish inside the lease, handing the rest back untried: room for
#: three attempts that run out their timeout, while a batch of answering endpoints takes
#: well under a second. (Leasing for the batch's worst case, every row timing out, made
#: a killed worker's webhooks wait 90 s.)
LEASE = timedelta(seconds=3 * ATTEMPT_BUDGET_SECONDS)
DRAIN_SECONDS = 10.0
#: An attempt is started only with at least this much of its shop's and host's batch
#: budget left; its timeout is what is left (at most webhooks.TIMEOUT_SECONDS).
MIN_ATTEMPT_SECONDS = 0.5
#: what :func:`_attempt` returns when the attempt's outcome could not be written
UNRECORDED = "unrecorded"

logger = logging.getLogger(__name__)


# --- sending ---
def webhook_deliveries_send_due(
    *, now: datetime | None = None, limit: int = BATCH_SIZE
) -> SendResult:
    """Claim one batch of due deliveries and attempt each once, within budgets.

    Each shop, and each destination host, may take WEBHOOK_SHOP_BATCH_SECONDS and
    WEBHOOK_HOST_BATCH_SECONDS of the batch: an attempt's timeout is the least of what is
    left of both, and a delivery whose shop or host has less than MIN_ATTEMPT_SECONDS left
    is handed back untried for the next batch. So one shop's hanging endpoints (or one
    hanging host that many shops use) delay only their own deliveries, not the batch's.

    ``now`` stands for the clock (tests move it instead of sleeping); the signature's
    timestamp is always the real time of sending.
    """
    result = SendResult()
    # measured from before the claim, so the lease (set from the same moment) ends later
    lease_ends = time.monotonic() + LEASE.total_seconds()
    claimed = claim_due(
        WebhookDelivery.objects.select_related("endpoint"),
        now=now or timezone.now(),
        limit=limit,
        lease=LEASE,
    )
    # An endpoint that just failed is not tried again in this batch: its other
    # deliveries wait for its retry instead of each spending a timeout on it.
    held_until: dict[uuid.UUID, datetime] = {}
    shop_left: dict[int, float] = defaultdict(lambda: settings.WEBHOOK_SHOP_BATCH_SECONDS)
    host_left: dict[str, float] = defaultdict(lambda: settings.WEBHOOK_HOST_BATCH_SECONDS)
    for delivery in claimed:
        at = now or timezone.now()
        if delivery.endpoint_id in held_until:
            _postpone(delivery, until=held_until[delivery.endpoint_id])
            result.postponed += 1
            continue
        if time.monotonic() + ATTEMPT_BUDGET_SECONDS > lease_ends:
            # another worker may claim the row once the lease ends: never send it then
            _postpone(delivery, until=at)
            result.postponed += 1
            continue
        shop_id, host = delivery.endpoint.shop_id, _host(delivery.endpoint.url)
        timeout = min(webhooks.TIMEOUT_SECONDS, shop_left[shop_id], host_left[host])
        if timeout < MIN_ATTEMPT_SECONDS:
            _postpone(delivery, until=at)  # its shop or host has had its share of the batch
            result.postponed += 1
            continue
        started = time.monotonic()
        outcome, next_at = _attempt(delivery, now=at, timeout=timeout)
        spent = time.monotonic() - started
        shop_left[shop_id] -= spent
        host_left[host] -= spent
        if outcome == AttemptOutcome.SENT:
            result.sent += 1
        elif outcome == AttemptOutcome.RETRY:
            result.retried += 1
            held_until[delivery.endpoint_id] = next_at
        elif outcome == AttemptOutcome.FAILED:
            result.failed += 1
        elif outcome == UNRECORDED:
            result.unrecorded += 1
        else:
            result.skipped += 1
    return result


def webhook_deliveries_drain(*, max_seconds: float = DRAIN_SECONDS) -> SendResult:
    """Send batches until nothing is due or ``max_seconds`` have passed."""
    deadline = time.monotonic() + max_seconds
    total = SendResult()
    while True:
        batch = webhook_deliveries_send_due()
        total += batch
        if batch.handled == 0 or time.monotonic() > deadline:
            return total


def webhook_deliveries_due_exist(now: datetime | None = None) -> bool:
    return WebhookDelivery.objects.filter(due(now or timezone.now())).exists()


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _attempt(
    delivery: WebhookDelivery, *, now: datetime, timeout: float = webhooks.TIMEOUT_SECONDS
) -> tuple[str, datetime | None]:
    endpoint = delivery.endpoint
    if not endpoint.active:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=SendStatus.SKIPPED, lease_until=None, next_attempt_at=None
        )
        return SendStatus.SKIPPED, None
    request_id = uuid.uuid4()
    if delivery.attempts > webhooks.MAX_ATTEMPTS:
        # claimed again after lost leases (a worker killed mid-attempt, each time)
        result = webhooks.AttemptResult(AttemptOutcome.FAILED, None, "", 0, "No attempt finished.")
    else:
        result = _post_isolated(delivery, endpoint, request_id=request_id, now=now, timeout=timeout)
    try:
        outcome, next_at = _record(delivery, endpoint, result, request_id=request_id, now=now)
    except Exception:  # one row's write failing is that row's alone, as its send is
        # e.g. the shop deleted the endpoint while its attempt was on the wire. The row
        # stays claimed, if it still exists, and is claimed again when its lease ends.
        logger.exception("Webhook attempt not recorded", extra={"delivery_id": str(delivery.pk)})
        return UNRECORDED, None
    # counted once the attempt's log row has committed, with the outcome it was logged with
    metrics.record_webhook_delivery(outcome=outcome, seconds=result.duration_ms / 1000)
    return outcome, next_at


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
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
            timeout=timeout,
        )


@transaction.atomic
def _record(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    result: webhooks.AttemptResult,
    *,
    request_id: uuid.UUID,
    now: datetime,
) -> tuple[str, datetime | None]:
    """Log the attempt and set what happens next: sent, a retry at its time, or failed."""
    # A receiver chooses these bytes; PostgreSQL text cannot hold NUL, and a failed write
    # here would fail the whole batch, other shops' deliveries with it.
    response_body = result.response_body.replace("\x00", "\ufffd")
    error = result.error.replace("\x00", "\ufffd")
    outcome = result.outcome
    if outcome == AttemptOutcome.RETRY and delivery.attempts >= webhooks.MAX_ATTEMPTS:
        outcome = AttemptOutcome.FAILED
    next_at = (
        now + webhooks.retry_delay(delivery.attempts) if outcome == AttemptOutcome.RETRY else None
    )
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        request_id=request_id,
        url=endpoint.url,
        started_at=now,
        duration_ms=result.duration_ms,
        status_code=result.status_code,
        response_body=response_body,
        error=error,
        outcome=outcome,
        next_attempt_at=next_at,
    )
    changes: dict[str, Any] = {
        "lease_until": None,
        "last_status_code": result.status_code,
        "last_error": error,
        "next_attempt_at": next_at,
    }
    if outcome == AttemptOutcome.SENT:
        changes |= {"status": SendStatus.SENT, "sent_at": now}
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(
            failing_since=None
        )
    else:
        changes["status"] = (
            SendStatus.QUEUED if outcome == AttemptOutcome.RETRY else SendStatus.FAILED
        )
        _endpoint_failed(endpoint, now=now, error=error)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)
    return outcome, next_at


def _endpoint_failed(endpoint: WebhookEndpoint, *, now: datetime, error: str) -> None:
    """Note the failure; disable an endpoint failing for WEBHOOK_DISABLE_AFTER_HOURS."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(
        failing_since=now
    )
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    window = timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
    if (
        not endpoint.active
        or endpoint.failing_since is None
        or now - endpoint.failing_since < window
    ):
        return
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


def _postpone(delivery: WebhookDelivery, *, until: datetime) -> None:
    """Put a claimed delivery back untried (its claim did not count as an attempt)."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=SendStatus.QUEUED,
        attempts=delivery.attempts - 1,
        lease_until=None,
        next_attempt_at=until,
    )


# --- replay and retention ---
@transaction.atomic
def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again, as a fresh first attempt (webhook-id stays the event id)."""
    if not delivery.endpoint.active:
        raise EndpointInactive("Enable the endpoint before replaying its deliveries.")
    if delivery.status not in OPEN:
        _requeue(WebhookDelivery.objects.filter(pk=delivery.pk))
        kick_after_commit(WEBHOOK_TASK)
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
        kick_after_commit(WEBHOOK_TASK)
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
