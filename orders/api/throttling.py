from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class ShopRateThrottle(SimpleRateThrottle):
    """Per-shop request rate from ``API_RATE_LIMIT`` (e.g. ``1000/minute``; empty disables)."""

    scope = "shop"

    def get_rate(self) -> str | None:
        return settings.API_RATE_LIMIT or None

    def get_cache_key(self, request, view) -> str | None:
        shop = getattr(request.user, "shop", None)
        if shop is None:
            return None
        return f"throttle:shop:{shop.pk}"
