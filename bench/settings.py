"""Benchmark settings: the test settings (for the probe's no-op subscriber) plus baselines."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]

# The naive baseline (bench/naive.py) is served beside the app's own URLs.
ROOT_URLCONF = "bench.urls"
