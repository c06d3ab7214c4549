"""The shop's metadata on its order: the one thing of an order the shop may rewrite."""

from collections.abc import Mapping
from uuid import UUID

from django.utils import timezone

from ..models import Order, Shop
from ..selectors import order_get_for_shop


def order_change_metadata(*, order_id: UUID, shop: Shop, metadata: Mapping[str, str]) -> Order:
    """Replace the metadata of the shop's order as a whole; return the order.

    Raise ``Order.DoesNotExist`` for another shop's order, as for none. The caller
    validates ``metadata`` (the API's serializer). One UPDATE: of two writers the last
    one's object is kept whole, never a merge of both; ``updated_at`` moves, so a shop
    syncing with ``?updated_after=`` sees the change. Nothing is published: metadata is
    the shop's own note, read by no other context, and the shop made the change itself.
    """
    updated = Order.objects.filter(pk=order_id, shop=shop).update(
        metadata=dict(metadata), updated_at=timezone.now()
    )
    if not updated:
        raise Order.DoesNotExist(f"No order {order_id} in shop {shop.pk}.")
    return order_get_for_shop(shop=shop, order_id=order_id)
