"""The payments context's invariants: an order is charged at most once, refunds add up."""

from django.db.models import Count, DecimalField, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce

from orderflow.invariants import EXAMPLES, Result, Window, invariant

from .choices import AttemptOutcome, GatewayOperation, RefundStatus
from .models import Payment, Refund


@invariant(
    "payments.one_capture_per_order",
    "No payment of the window was captured twice at the gateway (one payment row per "
    "order is a constraint; this counts the successful capture calls).",
)
def one_capture_per_order(window: Window, result: Result) -> None:
    payments = Payment.objects.filter(created_at__gte=window.since)
    charged_twice = (
        payments.annotate(
            captures=Count(
                "attempts",
                filter=Q(
                    attempts__operation=GatewayOperation.CAPTURE,
                    attempts__outcome=AttemptOutcome.SUCCEEDED,
                ),
            )
        )
        .filter(captures__gt=1)
        .order_by("created_at")
    )
    result.checked = payments.count()
    result.found(
        charged_twice.count(),
        (f"payment of order {p.order_id}: {p.captures} captures" for p in charged_twice[:EXAMPLES]),
    )


@invariant(
    "payments.refunds_add_up",
    "Each payment's refunded amount is the sum of its succeeded refunds, within the amount.",
)
def refunds_add_up(window: Window, result: Result) -> None:
    succeeded = (
        Refund.objects.filter(payment=OuterRef("pk"), status=RefundStatus.SUCCEEDED)
        .values("payment")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    payments = Payment.objects.filter(created_at__gte=window.since).annotate(
        refunds_sum=Coalesce(
            Subquery(succeeded, output_field=DecimalField()), 0, output_field=DecimalField()
        )
    )
    wrong = payments.exclude(refunded_amount=F("refunds_sum")).order_by("created_at")
    result.checked = payments.count()
    result.found(
        wrong.count(),
        (
            f"payment of order {p.order_id}: refunded {p.refunded_amount}, "
            f"refunds sum {p.refunds_sum}"
            for p in wrong[:EXAMPLES]
        ),
    )
