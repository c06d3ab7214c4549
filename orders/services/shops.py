"""Shops and their API keys."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from .. import repository
from ..models import Shop, ShopAPIKey

#: last_used_at is a hint for humans, not an audit log: writing it on every request would
#: add an UPDATE to the hot path, so it is refreshed at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Actor:
    """Who asked for a change, as written into history: ``shop-key:ab12cd34``, ``staff:ana``."""

    kind: str
    name: str

    def __str__(self) -> str:
        return self.kind if self.kind == "system" else f"{self.kind}:{self.name}"


#: the saga itself, reacting to events
SYSTEM = Actor(kind="system", name="")


@transaction.atomic
def shop_create(
    *, name: str, currency: str = "EUR", slug: str | None = None, contact_email: str = ""
) -> Shop:
    base = slug or slugify(name) or "shop"
    candidate, n = base, 1
    while Shop.objects.filter(slug=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    shop = Shop(name=name, currency=currency.upper(), slug=candidate, contact_email=contact_email)
    shop.full_clean()
    shop.save()
    return shop


def api_key_create(*, shop: Shop, name: str) -> tuple[ShopAPIKey, str]:
    """Create a key and return it with its secret, which is never stored and never shown again."""
    return ShopAPIKey.objects.create_key(shop=shop, name=name[:50])


def api_key_revoke(*, api_key: ShopAPIKey) -> ShopAPIKey:
    if not api_key.revoked:
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
    return api_key


def api_key_authenticate(*, raw_key: str) -> ShopAPIKey | None:
    """Return the usable key (with its shop) for ``raw_key``, or None."""
    prefix, dot, _ = raw_key.partition(".")
    if not dot or not prefix:
        return None
    api_key = repository.api_key_with_shop(prefix)
    if api_key is None or api_key.has_expired or not api_key.is_valid(raw_key):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ShopAPIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
