"""The notifications context's invariants: one successful webhook per event and endpoint,
and no e-mail or webhook left waiting past its time."""

from django.db.models import Count, Q

from orderflow.invariants import EXAMPLES, Result, Window, invariant

from .choices import AttemptOutcome, SendStatus
from .models import Notification, WebhookDelivery


@invariant(
    "notifications.one_webhook_success",
    "At most one successful POST per endpoint and event (the delivery row is unique per "
    "pair; this counts its successful attempts; a staff replay may send it again).",
)
def one_webhook_success(window: Window, result: Result) -> None:
    deliveries = WebhookDelivery.objects.filter(
        created_at__gte=window.since, replayed_at__isnull=True
    )
    twice = (
        deliveries.annotate(successes=Count("log", filter=Q(log__outcome=AttemptOutcome.SENT)))
        .filter(successes__gt=1)
        .order_by("created_at")
    )
    result.checked = deliveries.count()
    result.found(
        twice.count(),
        (
            f"{d.event_type} {d.event_id} to endpoint {d.endpoint_id}: sent {d.successes} times"
            for d in twice[:EXAMPLES]
        ),
    )


@invariant(
    "notifications.nothing_stuck",
    "No e-mail or webhook is queued past its due time, or sending past its lease, for "
    "longer than the stuck threshold (retries waiting for their time are fine).",
)
def nothing_stuck(window: Window, result: Result) -> None:
    stuck = Q(status=SendStatus.QUEUED, next_attempt_at__lt=window.stuck_before) | Q(
        status=SendStatus.SENDING, lease_until__lt=window.stuck_before
    )
    for model in (Notification, WebhookDelivery):
        open_rows = model.objects.filter(status__in=[SendStatus.QUEUED, SendStatus.SENDING])
        late = open_rows.filter(stuck).order_by("next_attempt_at")
        result.checked += open_rows.count()
        result.found(
            late.count(),
            (
                f"{model._meta.verbose_name} {m.pk} {m.status}, due {m.next_attempt_at}"
                for m in late[:EXAMPLES]
            ),
        )
