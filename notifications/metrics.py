"""The notifications context's metrics: webhook POST attempts and customer e-mails.

Recorded by the senders, once per attempt (``services/deliveries.py``, ``services/emails.py``);
the kernel's :mod:`orderflow.observability.metrics` holds the buckets and the exposition.
"""

from prometheus_client import Counter, Histogram

from orderflow.observability.metrics import DURATION_BUCKETS, labels_once

#: the same words as :class:`notifications.choices.AttemptOutcome`
OUTCOMES = frozenset({"sent", "retry", "failed"})

WEBHOOK_DELIVERIES = Counter(
    "orderflow_webhook_deliveries_total",
    "Webhook POST attempts to shops by outcome: sent (2xx), retry (failed, to be tried "
    "again) or failed (failed for good).",
    ["outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "orderflow_webhook_delivery_duration_seconds",
    "Duration of one webhook POST attempt to a shop, by outcome.",
    ["outcome"],
    buckets=DURATION_BUCKETS,
)
EMAILS = Counter(
    "orderflow_emails_total",
    "Customer e-mail attempts by outcome: sent, retry (failed, to be tried again) or failed.",
    ["outcome"],
)


def record_webhook_delivery(*, outcome: str, seconds: float) -> None:
    """Record one webhook POST attempt: ``sent``, ``retry`` or ``failed``."""
    if outcome not in OUTCOMES:
        raise ValueError(f"webhook outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
    labels_once(WEBHOOK_DELIVERIES, outcome).inc()
    labels_once(WEBHOOK_SECONDS, outcome).observe(seconds)


def record_email(*, outcome: str) -> None:
    """Record one customer e-mail attempt: ``sent``, ``retry`` or ``failed``."""
    if outcome not in OUTCOMES:
        raise ValueError(f"e-mail outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
    labels_once(EMAILS, outcome).inc()
