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
