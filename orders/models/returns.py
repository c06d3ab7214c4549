"""A customer's return: lines of a shipped order coming back, and the steps that settle it."""

import uuid

from django.db import models

from ..choices import OrderStatus, ReturnStatus

ACTOR_LENGTH = 100
#: some or all of the order's units have left in parcels: those can come back
RETURNABLE_STATUSES = frozenset(
    {
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.SHIPPED,
        OrderStatus.OUT_FOR_DELIVERY,
        OrderStatus.DELIVERED,
    }
)


class Return(models.Model):
    """Units of a shipped or delivered order the customer sends back, and who did what when.

    requested → approved | rejected; approved → received (restocked or not); received →
    refunded, or closed without a refund. ``orders.services.returns`` moves it, with the
    order row locked, so that two returns of one order never claim the same units.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="returns")
    #: the order's shop, kept here so that a shop's returns are found without the order
    shop = models.ForeignKey("orders.Shop", on_delete=models.PROTECT, related_name="+")
    #: 1, 2, … within the order (``OF-…-R1``)
    number = models.PositiveIntegerField(editable=False)
    status = models.CharField(
        max_length=20, choices=ReturnStatus.choices, default=ReturnStatus.REQUESTED, editable=False
    )
    reason = models.CharField(max_length=500)
    rejection_reason = models.CharField(max_length=500, blank=True, editable=False)
    #: chosen when the parcel comes back: its units go back on hand (None until then)
    restock = models.BooleanField(null=True, editable=False)
    #: what was given back (0 until refunded) and the payments context's refund
    refunded_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    refund_id = models.UUIDField(null=True, blank=True, editable=False)
    requested_by = models.CharField(max_length=ACTOR_LENGTH, editable=False)
    decided_by = models.CharField(max_length=ACTOR_LENGTH, blank=True, editable=False)
    received_by = models.CharField(max_length=ACTOR_LENGTH, blank=True, editable=False)
    settled_by = models.CharField(max_length=ACTOR_LENGTH, blank=True, editable=False)
    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)
    received_at = models.DateTimeField(null=True, blank=True, editable=False)
    settled_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "number"]
        constraints = [
            models.UniqueConstraint(fields=["order", "number"], name="return_unique_order_number"),
            models.CheckConstraint(
                condition=models.Q(refunded_amount__gte=0), name="return_refund_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["shop", "status"], name="return_shop_status")]

    def __str__(self) -> str:
        return f"{self.order.number}-R{self.number}" if self.order_id else f"R{self.number}"


class ReturnLine(models.Model):
    """Units of one order line in a return."""

    order_return = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order_return", "sku"], name="returnline_unique_return_sku"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="returnline_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"
