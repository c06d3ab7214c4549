from django.db import models
from django.utils.translation import pgettext_lazy


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    AUTHORIZED = "authorized", "Authorized"
    CAPTURED = "captured", "Captured"
    FAILED = "failed", "Failed"
    VOIDED = "voided", "Voided (order cancelled before charging)"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"


#: a payment's status as a sentence names it ("its payment is %(state)s"), in the reader's
#: language: the staff member's on a staff page, English in the API (which activates no
#: other). The English words are the labels in lower case, as the API has always read.
PAYMENT_STATUS_WORDS = {
    PaymentStatus.PENDING: pgettext_lazy("a payment is", "pending"),
    PaymentStatus.AUTHORIZED: pgettext_lazy("a payment is", "authorized"),
    PaymentStatus.CAPTURED: pgettext_lazy("a payment is", "captured"),
    PaymentStatus.FAILED: pgettext_lazy("a payment is", "failed"),
    PaymentStatus.VOIDED: pgettext_lazy("a payment is", "voided (order cancelled before charging)"),
    PaymentStatus.PARTIALLY_REFUNDED: pgettext_lazy("a payment is", "partially refunded"),
    PaymentStatus.REFUNDED: pgettext_lazy("a payment is", "refunded"),
}


class PaymentMode(models.TextChoices):
    """How the order's money is taken: the order's ``payment_mode`` (``orders.choices``)."""

    #: authorised and captured through the gateway when the stock is reserved
    CHARGE = "charge", "Charge at confirmation"
    #: authorised when the stock is reserved, captured when the order ships
    CAPTURE_ON_SHIPMENT = "capture_on_shipment", "Authorise, capture on shipment"
    #: taken by the shop at its own checkout: recorded as captured, no gateway call
    EXTERNAL = "external", "Paid externally"


class RefundStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class GatewayOperation(models.TextChoices):
    AUTHORIZE = "authorize", "Authorize"
    CAPTURE = "capture", "Capture"
    REFUND = "refund", "Refund"
    VOID = "void", "Void"


class AttemptOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    DECLINED = "declined", "Declined"
    GAVE_UP = "gave_up", "Gave up after transient errors"


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CREDIT_NOTE = "credit_note", "Credit note"
