from django.db import models


class OrderStatus(models.TextChoices):
    PLACED = "placed", "Placed"
    RESERVED = "reserved", "Stock reserved"
    PAID = "paid", "Paid"
    CONFIRMED = "confirmed", "Confirmed"
    SHIPPED = "shipped", "Shipped"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class Locale(models.TextChoices):
    """The languages customers read (``customer.locale``; a shop's default ``language``)."""

    EN = "en", "English"
    PT_BR = "pt-BR", "Português (Brasil)"
