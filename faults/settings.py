"""The fault suite's settings: the project's own, with every protection on."""

from orderflow.settings import *  # noqa: F403
