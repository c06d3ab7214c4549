import logging

from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class ShopRateThrottle(SimpleRateThrottle):
    """Per-shop request rate from ``API_RATE_LIMIT`` (e.g. ``1000/minute``; empty disables).

    The counters live in the cache. When the cache cannot be reached the throttle fails
    open: the request is allowed and a warning logged. The limit guards shops' fair share,
    not correctness (the database's pool still bounds the load), so refusing every shop
    while Redis restarts would turn a cache blip into an API outage.
    """

    scope = "shop"

    def get_rate(self) -> str | None:
        return settings.API_RATE_LIMIT or None

    def get_cache_key(self, request, view) -> str | None:
        shop = getattr(request.user, "shop", None)
        if shop is None:
            return None
        return f"throttle:shop:{shop.pk}"

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            logger.warning(
                "Rate limit not checked, the cache is unreachable (%s: %s)",
                type(exc).__name__,
                exc,
            )
            return True
