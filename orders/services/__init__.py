"""Write use cases of the orders context, one module per subdomain."""

from ..exceptions import InvalidTransition
from .catalog import product_create, product_update
from .intake import CustomerInput, LineInput, order_place
from .lifecycle import order_cancel
from .shops import Actor, api_key_authenticate, api_key_create, api_key_revoke, shop_create

__all__ = [
    "Actor",
    "CustomerInput",
    "InvalidTransition",
    "LineInput",
    "api_key_authenticate",
    "api_key_create",
    "api_key_revoke",
    "order_cancel",
    "order_place",
    "product_create",
    "product_update",
    "shop_create",
]
