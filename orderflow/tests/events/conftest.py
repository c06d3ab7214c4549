"""Fixtures for the event kernel's in-process tests: publish probe events, run the machinery."""

import uuid
from collections.abc import Callable, Iterator

import pytest
from django.db import transaction

from orderflow.correlation import reset_correlation_id, set_correlation_id
from orderflow.events import Event, publish
from orderflow.models import OutboxEvent
from tests.probe.events import ProbePinged


@pytest.fixture
def publish_one() -> Callable[..., OutboxEvent]:
    """Publish one event in its own transaction (a savepoint inside a django_db test)."""

    def run(event: Event, **options) -> OutboxEvent:
        with transaction.atomic():
            return publish(event, **options)

    return run


@pytest.fixture
def ping(publish_one) -> Callable[..., OutboxEvent]:
    """Publish a ``probe.pinged`` event (a new probe unless ``probe_id`` is given)."""

    def run(probe_id: uuid.UUID | None = None, *, sequence: int | None = None, **fields):
        event = ProbePinged(probe_id=probe_id or uuid.uuid4(), shop_id=1, **fields)
        return publish_one(event, sequence=sequence)

    return run


@pytest.fixture
def correlation_id() -> Iterator[str]:
    """Bind a known correlation id, as the middleware does for the length of a request."""
    token = set_correlation_id("corr-test-1")
    try:
        yield "corr-test-1"
    finally:
        reset_correlation_id(token)
