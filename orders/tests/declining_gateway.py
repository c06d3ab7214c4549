"""A payment provider that declines the first refund it is asked for, and keeps its word.

The simulated gateway never declines a refund by itself. This one declines the first
refund call and stores that answer under the call's idempotency key through the
simulation's own record (``SimulatedGateway._call``), so that, as with Stripe, a later
call with the same key gets the decline replayed: a retry succeeds only under a new key.
Every other call is the simulation's.
"""

from payments.gateway import GatewayResult, SimulatedGateway
from payments.models import PaymentAttempt, Refund
from payments.services import refunding
from payments.services.charging import gateway_key

DECLINE = GatewayResult(ok=False, decline_code="card_declined", message="The card was declined.")


class DecliningFirstRefund(SimulatedGateway):
    #: the keys of the refunds declined so far (the first call only)
    declined: list[str] = []

    def refund(self, *, capture, amount, currency, idempotency_key) -> GatewayResult:
        if not self.declined:
            self.declined.append(idempotency_key)
            return self._call("refund", idempotency_key, lambda: DECLINE)
        return super().refund(
            capture=capture, amount=amount, currency=currency, idempotency_key=idempotency_key
        )


def decline_first_refund(monkeypatch) -> type[DecliningFirstRefund]:
    """Send refunds to a provider that declines the first one; ``.declined`` lists its key."""
    monkeypatch.setattr(DecliningFirstRefund, "declined", [])
    monkeypatch.setattr(refunding, "get_gateway", DecliningFirstRefund)
    return DecliningFirstRefund


def refund_key(order_id, number: int) -> str:
    """The gateway key of the order's ``number``th refund (numbered by the refunds recorded)."""
    return gateway_key(order_id, f"refund-{number}")


def refunds_of(order_id) -> list[tuple[str, str]]:
    """The order's refunds as (status, gateway key), oldest first."""
    return list(
        Refund.objects.filter(payment__order_id=order_id)
        .order_by("created_at")
        .values_list("status", "idempotency_key")
    )


def refund_calls_of(order_id) -> list[tuple[str, str]]:
    """The order's refund calls to the gateway as (outcome, key), oldest first."""
    return list(
        PaymentAttempt.objects.filter(payment__order_id=order_id, operation="refund")
        .order_by("id")
        .values_list("outcome", "idempotency_key")
    )
