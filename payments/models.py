import uuid
from decimal import Decimal

from django.db import models

from .choices import (
    AttemptOutcome,
    GatewayOperation,
    InvoiceKind,
    PaymentMode,
    PaymentStatus,
    RefundStatus,
)
from .exceptions import InvoiceImmutable


class Payment(models.Model):
    """The one payment of an order (orders are referenced by id: another context's row)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order_id = models.UUIDField(unique=True)
    shop_id = models.BigIntegerField(db_index=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    refunded_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    authorization_reference = models.CharField(max_length=100, blank=True)
    gateway_reference = models.CharField(max_length=100, blank=True)
    decline_code = models.CharField(max_length=50, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    #: the order's payment mode when its payment step ran
    mode = models.CharField(
        max_length=20,
        choices=PaymentMode.choices,
        default=PaymentMode.CHARGE,
        db_default=PaymentMode.CHARGE,
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(refunded_amount__gte=0, refunded_amount__lte=models.F("amount")),
                name="payment_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} for {self.order_id} ({self.status})"


class PaymentAttempt(models.Model):
    """One gateway call that answered, and the final give-up after transient errors."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="attempts")
    operation = models.CharField(max_length=10, choices=GatewayOperation.choices)
    idempotency_key = models.CharField(max_length=100)
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices)
    reference = models.CharField(max_length=100, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    delivery_attempt = models.PositiveSmallIntegerField(
        help_text="Which delivery attempt of the triggering event made the call."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["payment", "id"]

    def __str__(self) -> str:
        return f"{self.operation} {self.outcome}"


class Refund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=RefundStatus.choices)
    gateway_reference = models.CharField(max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=100, unique=True)
    reason = models.CharField(max_length=500, blank=True)
    #: the lines a refund by lines gives back: ``[{"sku": "MUG", "quantity": 1}, ...]``
    #: (empty for a refund of an amount, or of the whole order)
    lines = models.JSONField(default=list, blank=True)
    #: the lines' units went back on hand (``orders.interface.stock_restock``)
    restock = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_positive"),
        ]

    def __str__(self) -> str:
        return f"refund {self.amount} {self.currency} ({self.status})"


class InvoiceSequence(models.Model):
    """The last invoice number issued for a shop in a year: the gapless counter's row."""

    shop_id = models.BigIntegerField()
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shop_id", "year"], name="invoice_sequence_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.shop_id}/{self.year}: {self.last}"


class Invoice(models.Model):
    """An issued invoice or credit note. Immutable: a correction is a credit note.

    An invoice has several credit notes (``credits`` points at it): one per refund the shop
    asked for (``refund`` names it; its lines and tax per rate are the refund's), and at
    most one that cancels it, issued when the order is cancelled (``refund`` empty; it
    credits whatever the refunds' credit notes left). The partial unique constraint
    ``invoice_cancelled_once`` keeps that one cancellation per invoice however often
    ``order.cancelled`` is delivered; ``invoice_one_per_order`` keeps one invoice per order.
    Credit notes carry negative amounts; together they never credit more per rate than the
    invoice charged (``payments.services.invoicing``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shop_id = models.BigIntegerField()
    order_id = models.UUIDField(db_index=True)
    order_number = models.CharField(max_length=20)
    kind = models.CharField(max_length=12, choices=InvoiceKind.choices)
    number = models.CharField(max_length=20, help_text="YYYY-NNNNNN, gapless per shop and year.")
    year = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField()
    credits = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_notes",
        help_text="The invoice this credit note corrects.",
    )
    #: the refund this credit note documents; None for an invoice and for the cancellation's
    refund = models.OneToOneField(
        Refund,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_note",
        help_text="The refund this credit note documents (empty: the order's cancellation).",
    )
    seller = models.JSONField()
    buyer = models.JSONField()
    lines = models.JSONField()
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=14, decimal_places=2, help_text="Net of tax.")
    #: the one rate of an invoice whose lines and shipping share it; null when they do not
    tax_rate = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    tax = models.DecimalField(max_digits=14, decimal_places=2)
    #: tax per rate: ``[{"rate": "0.2000", "net": "10.00", "tax": "2.00"}, ...]``, adding up
    #: to ``subtotal`` and ``tax``
    taxes = models.JSONField(default=list, blank=True)
    #: in the order's price basis, as its lines are
    shipping_total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    discount_total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    issued_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issued_at"]
        constraints = [
            models.UniqueConstraint(fields=["shop_id", "number"], name="invoice_unique_number"),
            models.UniqueConstraint(
                fields=["shop_id", "year", "sequence"], name="invoice_unique_sequence"
            ),
            models.UniqueConstraint(
                fields=["order_id"],
                condition=models.Q(kind=InvoiceKind.INVOICE),
                name="invoice_one_per_order",
            ),
            models.UniqueConstraint(
                fields=["credits"],
                condition=models.Q(kind=InvoiceKind.CREDIT_NOTE, refund__isnull=True),
                name="invoice_cancelled_once",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    kind=InvoiceKind.INVOICE, credits__isnull=True, refund__isnull=True
                )
                | models.Q(kind=InvoiceKind.CREDIT_NOTE, credits__isnull=False),
                name="invoice_credit_note_credits_an_invoice",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise InvoiceImmutable(
                f"Invoice {self.number} is issued and cannot change; issue a credit note."
            )
        super().save(*args, **kwargs)

    @property
    def is_cancellation(self) -> bool:
        """A credit note that cancels the rest of its invoice (the order was cancelled)."""
        return self.kind == InvoiceKind.CREDIT_NOTE and self.refund_id is None

    @property
    def tax_percent(self) -> str:
        """The rate as printed on the invoice: 0.2 is "20", 0.075 is "7.5" (never rounded)."""
        return percent_of(self.tax_rate) if self.tax_rate is not None else ""

    @property
    def tax_bands(self) -> list[dict[str, str]]:
        """Tax per rate as printed: ``percent``, ``net``, ``tax``."""
        return [{**band, "percent": percent_of(Decimal(band["rate"]))} for band in self.taxes]

    @property
    def printed_lines(self) -> list[dict]:
        """The lines with their rate as printed (``tax_percent``; blank before taxes per line)."""
        return [
            {
                **line,
                "tax_percent": percent_of(Decimal(line["tax_rate"])) if "tax_rate" in line else "",
            }
            for line in self.lines
        ]


def percent_of(rate) -> str:
    """A rate as printed: 0.2 is "20", 0.075 is "7.5" (never rounded)."""
    percent = f"{rate * 100:f}"
    return percent.rstrip("0").rstrip(".") if "." in percent else percent
