"""What the orders context publishes: its public contract with the other contexts."""

from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from pydantic.dataclasses import dataclass

from orderflow.events import Event


@dataclass(frozen=True, kw_only=True)
class PlacedLine:
    product_id: int
    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(Event):
    type: ClassVar[str] = "order.placed"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    currency: str
    subtotal: Decimal
    total: Decimal
    customer_name: str
    customer_email: str
    lines: list[PlacedLine]


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(Event):
    type: ClassVar[str] = "order.cancelled"
    aggregate: ClassVar[str] = "order"
    aggregate_id_field: ClassVar[str] = "order_id"

    order_id: UUID
    shop_id: int
    number: str
    previous_status: str
    reason: str
    cancelled_by: str
