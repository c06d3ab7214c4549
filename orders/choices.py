from django.db import models
from django.utils.translation import gettext_lazy, pgettext_lazy


class OrderStatus(models.TextChoices):
    PLACED = "placed", "Placed"
    RESERVED = "reserved", "Stock reserved"
    PAID = "paid", "Paid"
    CONFIRMED = "confirmed", "Confirmed"
    #: some lines have left with a carrier, others are still in the warehouse
    PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
    SHIPPED = "shipped", "Shipped"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


#: an order's status as a sentence names it ("Order 1001 is %(status)s"), in the reader's
#: language: the staff member's on a staff page, English in the API, the admin's actions and
#: the tasks (which activate no other). The English words are the labels in lower case, as
#: the API's messages have always read; the labels themselves stay English (docs/staff.md).
ORDER_STATUS_WORDS = {
    OrderStatus.PLACED: pgettext_lazy("an order is", "placed"),
    OrderStatus.RESERVED: pgettext_lazy("an order is", "stock reserved"),
    OrderStatus.PAID: pgettext_lazy("an order is", "paid"),
    OrderStatus.CONFIRMED: pgettext_lazy("an order is", "confirmed"),
    OrderStatus.PARTIALLY_SHIPPED: pgettext_lazy("an order is", "partially shipped"),
    OrderStatus.SHIPPED: pgettext_lazy("an order is", "shipped"),
    OrderStatus.OUT_FOR_DELIVERY: pgettext_lazy("an order is", "out for delivery"),
    OrderStatus.DELIVERED: pgettext_lazy("an order is", "delivered"),
    OrderStatus.REJECTED: pgettext_lazy("an order is", "rejected"),
    OrderStatus.CANCELLED: pgettext_lazy("an order is", "cancelled"),
}


class PaymentMode(models.TextChoices):
    """How an order's money is taken (the payments context carries it out)."""

    #: authorise and capture through the gateway when stock is reserved (the default)
    CHARGE = "charge", "Charge at confirmation"
    #: authorise when stock is reserved, capture when the first shipment leaves
    CAPTURE_ON_SHIPMENT = "capture_on_shipment", "Authorise, capture on shipment"
    #: the shop took the money at its own checkout: recorded, never charged
    EXTERNAL = "external", "Paid externally"


class Locale(models.TextChoices):
    """The languages customers read (``customer.locale``; a shop's default ``language``)."""

    EN = "en", "English"
    PT_BR = "pt-BR", "Português (Brasil)"


class ShipmentStatus(models.TextChoices):
    """Where one parcel is: the statuses a carrier reports (``orders.carriers``).

    The labels are read in the reader's language (staff pages, the admin); the migrations
    keep the English, which they compare equal to.
    """

    IN_TRANSIT = "in_transit", gettext_lazy("In transit")
    OUT_FOR_DELIVERY = "out_for_delivery", gettext_lazy("Out for delivery")
    DELIVERED = "delivered", gettext_lazy("Delivered")
    DELIVERY_FAILED = "delivery_failed", gettext_lazy("Delivery attempt failed")
    #: the carrier keeps it (for collection, customs, an address problem); it may move on
    HELD = "held", gettext_lazy("Held by the carrier")
    #: going back to the shop: final
    RETURNED_TO_SENDER = "returned_to_sender", gettext_lazy("Returned to sender")
    #: the carrier cancelled the shipment (its label voided): the parcel never left; final
    CANCELLED = "cancelled", gettext_lazy("Cancelled by the carrier")


class ReturnStatus(models.TextChoices):
    """Where a customer's return stands; ``orders.services.returns`` is its only writer.

    The labels are read in the reader's language (the staff order page's returns, the
    admin); the migrations keep the English, which they compare equal to.
    """

    REQUESTED = "requested", pgettext_lazy("a return's status", "Requested")
    APPROVED = "approved", pgettext_lazy("a return's status", "Approved")
    REJECTED = "rejected", pgettext_lazy("a return's status", "Rejected")
    RECEIVED = "received", pgettext_lazy("a return's status", "Received")
    REFUNDED = "refunded", pgettext_lazy("a return's status", "Refunded")
    #: received and settled without a refund (the shop repaired or replaced the goods)
    CLOSED = "closed", pgettext_lazy("a return's status", "Closed without refund")
