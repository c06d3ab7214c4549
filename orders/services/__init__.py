"""Write use cases of the orders context, one module per subdomain."""

from orderflow.idempotency import IdempotencyKeyReused, RequestInFlight

from ..exceptions import ExternalReferenceTaken, InvalidTransition
from .amendments import ADDRESS_FIELDS, order_change_customer, order_change_shipping_address
from .carriers import shop_carrier_bind, shop_carrier_unbind
from .catalog import product_create, product_update
from .dispatch import ShipmentLineInput, shipment_create
from .intake import CustomerInput, ExternalPayment, LineInput, order_place
from .lifecycle import (
    order_cancel,
    order_confirm_payment,
    order_deliver,
    order_fail_payment,
    order_mark_out_for_delivery,
    order_reserve_stock,
    order_ship,
)
from .metadata import order_change_metadata
from .shipments import shipment_report
from .shops import SYSTEM, Actor, api_key_authenticate, api_key_create, api_key_revoke, shop_create
from .staff_intake import order_place_once

__all__ = [
    "ADDRESS_FIELDS",
    "SYSTEM",
    "Actor",
    "CustomerInput",
    "ExternalPayment",
    "ExternalReferenceTaken",
    "IdempotencyKeyReused",
    "InvalidTransition",
    "LineInput",
    "RequestInFlight",
    "ShipmentLineInput",
    "api_key_authenticate",
    "api_key_create",
    "api_key_revoke",
    "order_cancel",
    "order_change_customer",
    "order_change_metadata",
    "order_change_shipping_address",
    "order_confirm_payment",
    "order_deliver",
    "order_fail_payment",
    "order_mark_out_for_delivery",
    "order_place",
    "order_place_once",
    "order_reserve_stock",
    "order_ship",
    "product_create",
    "product_update",
    "shipment_create",
    "shipment_report",
    "shop_carrier_bind",
    "shop_carrier_unbind",
    "shop_create",
]
