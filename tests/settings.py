"""Test settings: the project's own, plus the probe app that exercises the event machinery."""

import os

from orderflow.settings import *  # noqa: F403
from orderflow.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.probe"]

# Tests drive races by holding a simulated gateway call at a gate (payments/gateway.py); the
# Celery worker of the integration tests runs these settings too, so it honours the gates.
PAYMENT_GATES = True

# One test database per test run, so that runs side by side (two terminals, two
# engineers on one machine) never destroy each other's database.
DATABASES["default"]["TEST"] = {
    "NAME": os.environ.get("TEST_DATABASE_NAME", f"test_orderflow_{os.getpid()}")
}

# ...and one cache key space, since runs side by side share Redis: the cache holds the
# simulated gateway's records and the relay's kick flag, which one run must neither see
# nor lose to another (the integration fixture clears only its own run's keys). The
# Celery worker inherits the prefix through the environment.
os.environ.setdefault("TEST_CACHE_KEY_PREFIX", f"orderflow-test-{os.getpid()}")
CACHES = {
    name: {**config, "KEY_PREFIX": os.environ["TEST_CACHE_KEY_PREFIX"]}
    for name, config in CACHES.items()  # noqa: F405
}

# ...and one Celery queue: a worker of another run must not take this run's kicks.
os.environ.setdefault("TEST_CELERY_QUEUE", f"orderflow-test-{os.getpid()}")
CELERY_TASK_DEFAULT_QUEUE = os.environ["TEST_CELERY_QUEUE"]
EVENTS_SAGA_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-saga"
EVENTS_FLOW_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-flow"

# DEBUG is off in tests, as in production, but nobody runs ``collectstatic`` before a
# test run: serve static files from the apps with their plain names.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# One channel layer per test run as well: runs side by side share Redis, and a push sent by
# one run's worker must never reach another run's sockets. Subprocesses (worker, daphne)
# inherit the name through the environment.
os.environ.setdefault("TEST_CHANNEL_LAYER_PREFIX", f"orderflow-test-{os.getpid()}")
if CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis."):  # noqa: F405
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = os.environ["TEST_CHANNEL_LAYER_PREFIX"]  # noqa: F405
