"""Which carriers a shop ships with.

A carrier's reports name a parcel by (carrier, tracking number) alone, so the pair must
lead to one parcel of a shop that uses the carrier: a shop ships only with a carrier it is
bound to, and a tracking number on the road belongs to one parcel (a partial unique index
over the shipments not yet delivered, ``shipment_unique_parcel_on_the_road``; the parcel
itself is written by ``orders.services.dispatch``).
"""

from django.db import transaction
from django.db.models import OuterRef, Subquery

from orderflow.errors import FieldError

from ..exceptions import CarrierNotBound
from ..models import Shop, ShopCarrier


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
    return shop_carrier_checked(name, carrier=carrier)


def shop_carrier_bound(carrier: str) -> Subquery:
    """The carrier's name as the order's shop bound it, or NULL: ``shop_carrier_name`` as an
    expression, so that the query locking the order reads it too (one round trip less)."""
    return Subquery(
        ShopCarrier.objects.filter(shop_id=OuterRef("shop_id"), carrier__iexact=carrier).values(
            "carrier"
        )[:1]
    )


def shop_carrier_checked(name: str | None, *, carrier: str) -> str:
    """``name`` (what ``shop_carrier_bound`` read), or refuse ``carrier``: 400 naming it."""
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
