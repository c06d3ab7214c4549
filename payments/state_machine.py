"""The payment's transition table and ``transition()``, the only writer of ``Payment.status``."""

from .choices import PaymentStatus as P
from .exceptions import InvalidPaymentTransition
from .models import Payment

TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (P.PENDING, P.AUTHORIZED),
        (P.PENDING, P.FAILED),
        (P.PENDING, P.VOIDED),
        (P.AUTHORIZED, P.CAPTURED),
        (P.AUTHORIZED, P.FAILED),
        (P.AUTHORIZED, P.VOIDED),
        (P.CAPTURED, P.PARTIALLY_REFUNDED),
        (P.CAPTURED, P.REFUNDED),
        (P.PARTIALLY_REFUNDED, P.PARTIALLY_REFUNDED),
        (P.PARTIALLY_REFUNDED, P.REFUNDED),
    }
)


def transition(payment: Payment, *, to: str) -> Payment:
    """Set the status in memory after checking the table; the caller saves the row it locked."""
    if (payment.status, to) not in TRANSITIONS:
        raise InvalidPaymentTransition(
            f"A {P(payment.status).label.lower()} payment cannot become {P(to).label.lower()}."
        )
    payment.status = to
    return payment
