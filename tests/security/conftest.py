"""OrderFlow in each run mode, started once per test session for the whole corpus."""

import contextlib
from collections.abc import Iterator

import pytest
from django.conf import settings

from .live import SetupFailed, Target, embedded_mode, full_mode


@pytest.fixture(scope="session", params=["full", "embedded"])
def target(request) -> Iterator[Target]:
    """A running OrderFlow, seeded, in full mode (PostgreSQL + Redis) or embedded mode."""
    mode = full_mode(settings.REDIS_URL) if request.param == "full" else embedded_mode()
    with contextlib.ExitStack() as stack:
        try:
            started = stack.enter_context(mode)
        except SetupFailed as error:
            pytest.fail(str(error), pytrace=False)
        yield started
