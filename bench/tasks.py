from functools import cache

import redis
from celery import shared_task
from django.conf import settings

COUNTER_KEY = "bench:noop-tasks"


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@shared_task(name="bench.tasks.noop_task", ignore_result=True)
def noop_task() -> None:
    """One Celery task that does nothing but count itself: the one-task-per-delivery baseline."""
    _redis().incr(COUNTER_KEY)
