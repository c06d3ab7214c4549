from orderflow.errors import DomainError


class PaymentError(DomainError):
    """Base of the payments context's errors."""


class InvalidPaymentTransition(PaymentError):
    status = 409
    code = "invalid-transition"
    title = "Payment action not allowed in its state"


class InvoiceImmutable(PaymentError):
    status = 409
    code = "invalid-transition"
    title = "Issued invoices never change"


class RefundNotPossible(PaymentError):
    """The order has no captured money to give back (not paid yet, voided, or all refunded)."""

    status = 409
    code = "invalid-transition"
    title = "Payment action not allowed in its state"


class RefundInputError(PaymentError):
    """A refund's amount or lines break a rule only the payment knows (more than captured)."""

    status = 400
    code = "validation-error"
    title = "Invalid input"


class GatewayUnavailable(PaymentError):
    """The payment provider did not answer; nothing was refunded, the same request may
    succeed in a moment."""

    status = 503
    code = "service-unavailable"
    title = "Service unavailable"
