from django.db import models


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    AUTHORIZED = "authorized", "Authorized"
    CAPTURED = "captured", "Captured"
    FAILED = "failed", "Failed"
    VOIDED = "voided", "Voided (order cancelled before charging)"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"


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
