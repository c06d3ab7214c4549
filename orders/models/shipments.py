"""Shipments: the parcels an order leaves in, each with its lines, carrier and status.

An order ships in one parcel or several (``partially_shipped`` until every unit has
left). A carrier's reports name a parcel by carrier and tracking number alone, so a
number on the road names one shipment, whichever shop shipped it.
"""

import uuid

from django.db import models
from django.db.models.functions import Lower

from ..choices import ShipmentStatus

#: the statuses of a parcel still with its carrier (a held one may move on; one returned
#: to its sender is not on the road any more)
ON_THE_ROAD = (
    ShipmentStatus.IN_TRANSIT,
    ShipmentStatus.OUT_FOR_DELIVERY,
    ShipmentStatus.DELIVERY_FAILED,
    ShipmentStatus.HELD,
)
#: the statuses of a parcel in trouble, which staff handle and then mark handled (the
#: board's delivery-exceptions queue)
DELIVERY_EXCEPTIONS = (
    ShipmentStatus.DELIVERY_FAILED,
    ShipmentStatus.HELD,
    ShipmentStatus.RETURNED_TO_SENDER,
    ShipmentStatus.CANCELLED,
)


class Shipment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey("Order", on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(max_length=50, editable=False)
    #: the carrier's product (``express``, ``economy``…): what the shop chose; may be empty
    service = models.CharField(max_length=50, blank=True, editable=False)
    tracking_number = models.CharField(max_length=64, editable=False, db_index=True)
    status = models.CharField(
        max_length=20,
        choices=ShipmentStatus.choices,
        default=ShipmentStatus.IN_TRANSIT,
        editable=False,
    )
    #: when the carrier expects to deliver; None until a carrier says
    eta = models.DateTimeField(null=True, blank=True, editable=False)
    #: who shipped it, as the order's transition history names actors
    actor = models.CharField(max_length=100, editable=False)
    #: when and by whom staff marked the parcel's delivery exception handled; cleared by the
    #: carrier's next report, whose news is the parcel's again
    issue_resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    # a database default: the parcels are inserted by SQL of their own (``repository``)
    issue_resolved_by = models.CharField(
        max_length=100, blank=True, default="", db_default="", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # A carrier's tracking number names one parcel on the road, whichever shop
            # shipped it: a second shop shipping with the same number would take over
            # the carrier's reports on the first one's parcel.
            models.UniqueConstraint(
                Lower("carrier"),
                "tracking_number",
                condition=models.Q(status__in=ON_THE_ROAD),
                name="shipment_unique_parcel_on_the_road",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class ShipmentLine(models.Model):
    """Units of one order line in one parcel.

    A table rather than a JSON list on the shipment: what remains to ship is a SUM in the
    order's locked transaction, each row points at its order line (a line cannot vanish
    under a parcel), and the database refuses a zero or negative quantity.
    """

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        "OrderLine", on_delete=models.PROTECT, related_name="shipment_lines"
    )
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "order_line"], name="shipmentline_unique_shipment_line"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="shipmentline_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"
