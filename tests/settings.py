"""Test settings: the project's own, plus the probe app that exercises the event machinery."""

import os

from orderflow.settings import *  # noqa: F403
from orderflow.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.probe"]

# One test database per test run, so that runs side by side (two terminals, two
# engineers on one machine) never destroy each other's database.
DATABASES["default"]["TEST"] = {
    "NAME": os.environ.get("TEST_DATABASE_NAME", f"test_orderflow_{os.getpid()}")
}

# DEBUG is off in tests, as in production, but nobody runs ``collectstatic`` before a
# test run: serve static files from the apps with their plain names.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
