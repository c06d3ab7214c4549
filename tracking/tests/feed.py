"""Feed events for the tracking projector's tests: an order's story, event by event."""

import itertools
import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from orderflow.events.projectors import FeedEvent

_positions = itertools.count(1_000_000)


def feed_event(
    type_: str,
    data: dict,
    *,
    aggregate: str = "order",
    aggregate_id: str = "",
    sequence: int = 1,
    event_id: str | None = None,
    occurred_at=None,
    position: int | None = None,
) -> FeedEvent:
    now = timezone.now()
    return FeedEvent(
        position=next(_positions) if position is None else position,
        event_id=event_id or str(uuid.uuid4()),
        type=type_,
        version=1,
        aggregate=aggregate,
        aggregate_id=aggregate_id or str(data["order_id"]),
        sequence=sequence,
        tenant_id=str(data.get("shop_id", "")),
        correlation_id="",
        causation_id="",
        occurred_at=occurred_at or now,
        created_at=now,
        trace_context={},
        data=data,
    )


class Story:
    """The events of one order, with its facts, in the order the saga publishes them.

    ``legacy=True`` leaves out the facts added later (``status``, ``actor``, the placed
    order's ``shop_name`` and ``tracking_token``), as events stored before them read.
    """

    def __init__(self, order, *, legacy: bool = False) -> None:
        self.order = order
        self.legacy = legacy
        self.sequence = 0
        self.clock = timezone.now() - timedelta(minutes=5)
        self.payment_id = str(uuid.uuid4())

    def _base(self) -> dict:
        return {
            "order_id": str(self.order.id),
            "shop_id": self.order.shop_id,
            "number": self.order.number,
        }

    def _tick(self):
        self.clock += timedelta(seconds=1)
        return self.clock

    def order_event(self, type_: str, status: str, actor: str = "system", **data) -> FeedEvent:
        self.sequence += 1
        payload = {**self._base(), **data}
        if not self.legacy:
            payload |= {"status": status, "actor": actor}
        return feed_event(type_, payload, sequence=self.sequence, occurred_at=self._tick())

    def placed(self) -> FeedEvent:
        facts = (
            {}
            if self.legacy
            else {
                "shop_name": self.order.shop.name,
                "tracking_token": self.order.tracking_token,
                # what the customer's page shows (without them, one read of the orders
                # context per batch fills them in)
                "shop_email": self.order.shop.contact_email,
                "customer_locale": "pt-BR",
            }
        )
        return self.order_event(
            "order.placed",
            "placed",
            "shop-key:abcd",
            currency="EUR",
            subtotal="24.90",
            total="24.90",
            customer_name="Ana Souza",
            customer_email=self.order.customer_email,
            lines=[
                {
                    "product_id": 1,
                    "sku": "COFFEE-1KG",
                    "quantity": 2,
                    "unit_price": "12.45",
                    **({} if self.legacy else {"name": "Coffee beans, 1 kg"}),
                }
            ],
            **facts,
        )

    def reserved(self) -> FeedEvent:
        return self.order_event("stock.reserved", "reserved", total="24.90", currency="EUR")

    def paid(self) -> FeedEvent:
        return self.order_event(
            "order.paid", "paid", payment_id=self.payment_id, amount="24.90", currency="EUR"
        )

    def confirmed(self) -> FeedEvent:
        return self.order_event(
            "order.confirmed",
            "confirmed",
            total="24.90",
            currency="EUR",
            customer_name="Ana Souza",
            customer_email=self.order.customer_email,
        )

    def shipped(self, *, actor: str = "staff:ana", tracking_number: str = "DP-1") -> FeedEvent:
        return self.order_event(
            "shipment.dispatched",
            "shipped",
            actor,
            carrier="demo-post",
            tracking_number=tracking_number,
        )

    def in_transit(self, location: str = "Porto") -> FeedEvent:
        return self.order_event(
            "shipment.in_transit",
            "",
            "carrier:demo-post",
            carrier="demo-post",
            tracking_number="DP-1",
            location=location,
            note="Sorted",
        )

    def delivery_failed(self, location: str = "Porto") -> FeedEvent:
        return self.order_event(
            "shipment.delivery_failed",
            "",
            "carrier:demo-post",
            carrier="demo-post",
            tracking_number="DP-1",
            location=location,
            note="Nobody at home",
        )

    def held(self, location: str = "Porto, Rua das Flores 12") -> FeedEvent:
        return self.order_event(
            "shipment.held",
            "",
            "carrier:demo-post",
            carrier="demo-post",
            tracking_number="DP-1",
            location=location,
            note="Kept at the post office for collection",
        )

    def returned_to_sender(self) -> FeedEvent:
        return self.order_event(
            "shipment.returned_to_sender",
            "",
            "carrier:demo-post",
            carrier="demo-post",
            tracking_number="DP-1",
            location="Porto",
            note="Not collected",
        )

    def carrier_cancelled(self) -> FeedEvent:
        return self.order_event(
            "shipment.cancelled",
            "",
            "carrier:demo-post",
            carrier="demo-post",
            tracking_number="DP-1",
            location="Porto",
            note="Label voided",
        )

    def out_for_delivery(self) -> FeedEvent:
        return self.order_event(
            "shipment.out_for_delivery",
            "out_for_delivery",
            "carrier:demo-post",
            carrier="demo-post",
            tracking_number="DP-1",
        )

    def delivered(self) -> FeedEvent:
        return self.order_event(
            "shipment.delivered",
            "delivered",
            "carrier:demo-post",
            carrier="demo-post",
            tracking_number="DP-1",
        )

    def rejected(self, *, requested: int = 2, available: int = 1) -> FeedEvent:
        return self.order_event(
            "order.rejected",
            "rejected",
            reason="Not enough stock for COFFEE-1KG",
            short_lines=[{"sku": "COFFEE-1KG", "requested": requested, "available": available}],
        )

    def cancelled(
        self, *, reason: str, previous_status: str = "confirmed", by: str = "staff:ana"
    ) -> FeedEvent:
        return self.order_event(
            "order.cancelled",
            "cancelled",
            by,
            previous_status=previous_status,
            reason=reason,
            cancelled_by=by,
        )

    def refunded(self, amount: str = "24.90") -> FeedEvent:
        refund_id = str(uuid.uuid4())
        return feed_event(
            "payment.refunded",
            {
                "payment_id": self.payment_id,
                "refund_id": refund_id,
                "order_id": str(self.order.id),
                "shop_id": self.order.shop_id,
                "amount": amount,
                "currency": "EUR",
                "reason": "Order cancelled",
            },
            aggregate="payment",
            aggregate_id=self.payment_id,
            sequence=2,
            occurred_at=self._tick(),
        )

    def captured(self) -> FeedEvent:
        return feed_event(
            "payment.captured",
            {
                "payment_id": self.payment_id,
                "order_id": str(self.order.id),
                "shop_id": self.order.shop_id,
                "amount": "24.90",
                "currency": "EUR",
                "gateway_reference": "gw_1",
            },
            aggregate="payment",
            aggregate_id=self.payment_id,
            sequence=1,
            occurred_at=self._tick(),
        )

    def invoiced(self) -> FeedEvent:
        invoice_id = str(uuid.uuid4())
        return feed_event(
            "invoice.issued",
            {
                "invoice_id": invoice_id,
                "order_id": str(self.order.id),
                "shop_id": self.order.shop_id,
                "number": "INV-1",
                "kind": "invoice",
                "total": str(Decimal("24.90")),
                "currency": "EUR",
            },
            aggregate="invoice",
            aggregate_id=invoice_id,
            sequence=1,
            occurred_at=self._tick(),
        )

    def to_confirmed(self) -> list[FeedEvent]:
        """The six events of a paid order, in the order the saga commits them."""
        return [
            self.placed(),
            self.reserved(),
            self.captured(),
            self.paid(),
            self.confirmed(),
            self.invoiced(),
        ]
