"""The on-demand webhook actions' rate: test and replay requests per shop and minute.

Each such request makes the senders work for one shop at its asking (a replay since a
time can queue thousands of deliveries), so a shop gets WEBHOOK_ACTIONS_PER_MINUTE of them
on top of the API's general rate. The counter is one atomic increment in the cache per
request (Redis ``INCR``; the local-memory cache increments under its lock), in a fixed
window of a minute, so parallel requests cannot all pass.
"""

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


class WebhookActionRateThrottle(BaseThrottle):
    """Refuse a shop's test or replay request past its minute's share (a 429 problem).

    Like the API's rate limit, it fails open when the cache cannot be reached: the senders'
    per-shop batch budget still keeps one shop's work from starving the others.
    """

    def __init__(self):
        self.retry_after: float | None = None

    def allow_request(self, request, view) -> bool:
        limit = settings.WEBHOOK_ACTIONS_PER_MINUTE
        shop = getattr(request.user, "shop", None)
        if not limit or shop is None:
            return True
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = f"throttle:webhook-actions:{shop.pk}:{window}"
        try:
            cache.add(key, 0, timeout=2 * WINDOW_SECONDS)
            count = cache.incr(key)
        except (RedisConnectionError, RedisTimeoutError, ValueError) as exc:
            # ValueError: the counter expired between add and incr
            logger.warning("Webhook action rate not checked (%s: %s)", type(exc).__name__, exc)
            return True
        if count <= limit:
            return True
        self.retry_after = (window + 1) * WINDOW_SECONDS - now
        return False

    def wait(self) -> float | None:
        """Seconds until the shop's minute ends (DRF sends them as ``Retry-After``)."""
        return None if self.retry_after is None else max(math.ceil(self.retry_after), 1)


#: the API's throttles, and this one: for the views of on-demand actions
ON_DEMAND_THROTTLES = [*api_settings.DEFAULT_THROTTLE_CLASSES, WebhookActionRateThrottle]
