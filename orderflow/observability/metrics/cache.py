"""The process-pooled Redis cache (:mod:`orderflow.cache`), counting gets, hits and misses.

django-prometheus ships the same for django-redis only; these are its metric objects
(``django_cache_get_total`` and friends, labelled ``backend="redis"``), so its dashboards
and ours read the same names.
"""

from django_prometheus.cache.metrics import (
    django_cache_get_fail_total,
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)

from orderflow.cache import RedisCache as PooledRedisCache

_MISSING = object()
# The labelled children, looked up once: ``.labels()`` per get is a dict build and a lock.
_GETS = django_cache_get_total.labels(backend="redis")
_FAILS = django_cache_get_fail_total.labels(backend="redis")
_HITS = django_cache_hits_total.labels(backend="redis")
_MISSES = django_cache_misses_total.labels(backend="redis")


class RedisCache(PooledRedisCache):
    def get(self, key, default=None, version=None):
        _GETS.inc()
        try:
            value = super().get(key, _MISSING, version=version)
        except Exception:
            _FAILS.inc()
            raise
        if value is _MISSING:
            _MISSES.inc()
            return default
        _HITS.inc()
        return value
