"""Django's own Redis cache backend, counting gets, hits, misses and failures.

django-prometheus ships the same for django-redis only; these are its metric objects
(``django_cache_get_total`` and friends, labelled ``backend="redis"``), so its dashboards
and ours read the same names.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django_prometheus.cache.metrics import (
    django_cache_get_fail_total,
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)

_MISSING = object()


class RedisCache(DjangoRedisCache):
    def get(self, key, default=None, version=None):
        django_cache_get_total.labels(backend="redis").inc()
        try:
            value = super().get(key, _MISSING, version=version)
        except Exception:
            django_cache_get_fail_total.labels(backend="redis").inc()
            raise
        if value is _MISSING:
            django_cache_misses_total.labels(backend="redis").inc()
            return default
        django_cache_hits_total.labels(backend="redis").inc()
        return value
