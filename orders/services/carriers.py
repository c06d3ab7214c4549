"""Which carriers a shop ships with, and the parcel a shipment hands to one of them.

A carrier's reports name a parcel by (carrier, tracking number) alone, so the pair must
lead to one parcel of a shop that uses the carrier: a shop ships only with a carrier it is
bound to, and a tracking number on the road belongs to one parcel (a partial unique index
over the orders not yet delivered, ``order_unique_parcel_on_the_road``).
"""

from django.db import IntegrityError, transaction

from orderflow.errors import FieldError

from ..exceptions import CarrierNotBound, TrackingNumberInUse
from ..models import Order, Shop, ShopCarrier

PARCEL_CONSTRAINT = "order_unique_parcel_on_the_road"


@transaction.atomic
def shop_carrier_bind(*, shop: Shop, carrier: str) -> ShopCarrier:
    """Let ``shop`` ship with ``carrier`` and take its reports; binding twice changes nothing.

    Raise Django's ``ValidationError`` for a name no carrier could have, as ``shop_create``
    does, so a command or form shows it on the field.
    """
    existing = ShopCarrier.objects.filter(shop=shop, carrier__iexact=carrier).first()
    if existing is not None:
        return existing
    binding = ShopCarrier(shop=shop, carrier=carrier)
    binding.full_clean(validate_constraints=False)
    binding.save()
    return binding


@transaction.atomic
def shop_carrier_unbind(*, shop: Shop, carrier: str) -> int:
    """Stop ``shop`` shipping with ``carrier``; its reports on the shop's parcels are refused."""
    deleted, _ = ShopCarrier.objects.filter(shop=shop, carrier__iexact=carrier).delete()
    return deleted


def shop_carrier_name(*, shop_id: int, carrier: str) -> str:
    """Return the carrier's name as the shop bound it, or refuse a carrier it is not bound to.

    Without the binding, any shop could ship with any carrier's name and have that
    carrier's reports on another shop's parcel applied to its own order.
    """
    name = (
        ShopCarrier.objects.filter(shop_id=shop_id, carrier__iexact=carrier)
        .values_list("carrier", flat=True)
        .first()
    )
    if name is None:
        raise CarrierNotBound(
            f"The shop does not ship with carrier {carrier!r}.",
            errors=[
                FieldError(
                    attr="carrier",
                    code="carrier_not_bound",
                    detail=f"The shop does not ship with {carrier!r}; ask support to add the "
                    "carrier to the shop.",
                )
            ],
        )
    return name


def parcel_assign(*, order: Order, carrier: str, tracking_number: str) -> Order:
    """Write the parcel's carrier and tracking number on a shipped order.

    The unique index is the guard, not a lookup before the write: two shops shipping the
    same number at once cannot both pass it. Its violation is a 409 naming the field. No
    savepoint (two round trips): the error is never recovered from, it rolls the caller's
    transaction back.
    """
    try:
        with transaction.atomic(savepoint=False):
            Order.objects.filter(pk=order.pk).update(
                carrier=carrier, tracking_number=tracking_number
            )
    except IntegrityError as error:
        if PARCEL_CONSTRAINT not in str(error):
            raise
        raise TrackingNumberInUse(
            f"Tracking number {tracking_number!r} of {carrier} is on another parcel that "
            "is not yet delivered.",
            errors=[
                FieldError(
                    attr="tracking_number",
                    code="tracking_number_in_use",
                    detail="A parcel on the road already has this tracking number.",
                )
            ],
        ) from None
    order.carrier = carrier
    order.tracking_number = tracking_number
    return order
