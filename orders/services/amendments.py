"""Amendments: staff correct an order's customer or shipping address, and say so.

Only these two facts of a placed order are ever changed by hand; its status, lines and
money change through the state machine and the saga alone. Callers validate the values
with the API's own serializers (the admin form does), so one set of rules applies
however an order is written. Each change here locks the order, is refused when the
order's state forbids it, and is published as a past-tense event naming who made it,
so that the tracking history, the board and the shop's webhooks all see it.
"""

from collections.abc import Mapping
from uuid import UUID

from django.db import transaction

from orderflow.errors import FieldError
from orderflow.events import publish

from .. import state_machine
from ..choices import OrderStatus as S
from ..events import OrderCustomerChanged, OrderShippingAddressChanged, ShippingAddress
from ..exceptions import InvalidTransition, OrderInputError
from ..models import Order, Shop
from .shops import Actor

REQUIRED_ADDRESS_FIELDS = ("line1", "city", "postal_code", "country")
OPTIONAL_ADDRESS_FIELDS = ("line2", "region")
ADDRESS_FIELDS = (*REQUIRED_ADDRESS_FIELDS, *OPTIONAL_ADDRESS_FIELDS)

#: until it ships, an order's parcel can still be sent elsewhere; after that the address
#: is the carrier's, and one changed here would only make the records disagree
ADDRESS_CHANGEABLE = frozenset({S.PLACED, S.RESERVED, S.PAID, S.CONFIRMED})


@transaction.atomic
def order_change_shipping_address(
    *, order_id: UUID, shop: Shop | None, actor: Actor, shipping_address: Mapping[str, str]
) -> Order:
    """Send a not yet shipped order elsewhere; publish ``order.shipping_address_changed``.

    The same address again changes nothing and publishes nothing. A shipped (or ended)
    order is refused with :class:`InvalidTransition` (409), and nothing changes.
    """
    address = _address(shipping_address)
    order = _locked(order_id, shop)
    if address == _stored_address(order.shipping_address):
        return order
    if order.status not in ADDRESS_CHANGEABLE:
        raise InvalidTransition(
            f"The order is {S(order.status).label.lower()}; its shipping address can no "
            "longer change.",
            extra={
                "order_status": order.status,
                "allowed_actions": state_machine.allowed_actions(order.status),
            },
        )
    order.shipping_address = address
    order.save(update_fields=["shipping_address", "updated_at"])
    publish(
        OrderShippingAddressChanged(
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            shipping_address=ShippingAddress(**address),
            changed_by=str(actor),
            actor=str(actor),
        )
    )
    return order


@transaction.atomic
def order_change_customer(
    *, order_id: UUID, shop: Shop | None, actor: Actor, name: str, email: str
) -> Order:
    """Correct the customer's name or e-mail; publish ``order.customer_changed``.

    Allowed in every state: a wrong e-mail is worth fixing even after delivery, for the
    refund or return still to come. The same values again change nothing.
    """
    order = _locked(order_id, shop)
    if (order.customer_name, order.customer_email) == (name, email):
        return order
    order.customer_name, order.customer_email = name, email
    order.save(update_fields=["customer_name", "customer_email", "updated_at"])
    publish(
        OrderCustomerChanged(
            order_id=order.id,
            shop_id=order.shop_id,
            number=order.number,
            customer_name=name,
            customer_email=email,
            changed_by=str(actor),
            actor=str(actor),
        )
    )
    return order


def _locked(order_id: UUID, shop: Shop | None) -> Order:
    orders = Order.objects.select_for_update()
    if shop is not None:
        orders = orders.filter(shop=shop)
    return orders.get(pk=order_id)


def _address(values: Mapping[str, str]) -> dict[str, str]:
    """Return the address as stored: its known fields, the optional ones only when filled.

    The values' rules (lengths, the country code) are the API serializer's, applied by the
    caller; this refuses only a shape that no serializer would have let through.
    """
    errors = [
        FieldError(attr=f"shipping_address.{name}", code="unknown_field", detail="Unknown field.")
        for name in values
        if name not in ADDRESS_FIELDS
    ] + [
        FieldError(attr=f"shipping_address.{name}", code="required", detail="Required.")
        for name in REQUIRED_ADDRESS_FIELDS
        if not values.get(name)
    ]
    if errors:
        raise OrderInputError(f"{errors[0].attr}: {errors[0].detail}", errors=errors)
    return {name: values[name] for name in ADDRESS_FIELDS if values.get(name)}


def _stored_address(stored) -> dict | None:
    if not isinstance(stored, dict):
        return None
    return {name: stored[name] for name in ADDRESS_FIELDS if stored.get(name)}
