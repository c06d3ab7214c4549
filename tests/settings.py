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
