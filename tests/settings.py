"""Test settings: the project's own, plus the probe app that exercises the event machinery."""

from orderflow.settings import *  # noqa: F403
from orderflow.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.probe"]
