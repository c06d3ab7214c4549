"""Units of shipped order lines put back on hand, once per key."""

from django.db import models


class StockRestock(models.Model):
    """One restock of an order's units, under the key its caller gives (a refund's or a
    return's id): a retry or a replay with the same key finds this row and restocks nothing.

    ``lines`` is what went back on hand: ``[{"sku": "MUG", "quantity": 1}, ...]``.
    """

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="restocks")
    key = models.CharField(max_length=100, unique=True)
    lines = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"restock {self.key}"
