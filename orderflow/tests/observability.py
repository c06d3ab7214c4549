"""Fixtures and helpers for the observability tests: spans in memory, metric samples.

A test module takes the ``spans`` fixture by importing ``spans_fixture``.
"""

from collections.abc import Iterator

import pytest
from django.db import connection
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from orderflow.observability import tracing

# OpenTelemetry's global provider can be set once per process: every test shares this one
# and its exporter, emptied around each test that asks for spans.
_exporter = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(_exporter))


@pytest.fixture(name="spans")
def spans_fixture() -> Iterator[InMemorySpanExporter]:
    """Tracing on, as in a deployment, with finished spans kept in memory for the test."""
    _exporter.clear()
    tracing.install(_provider)
    # A deployment instruments before its first connection; the test runner connected
    # long before this test. Inside a test's transaction the open connection is
    # instrumented; otherwise the pool is closed, so new connections are.
    _fresh_connections()
    if connection.in_atomic_block:
        PsycopgInstrumentor.instrument_connection(connection.connection, tracer_provider=_provider)
    try:
        yield _exporter
    finally:
        if connection.in_atomic_block:
            PsycopgInstrumentor.uninstrument_connection(connection.connection)
        tracing.uninstall()
        _fresh_connections()
        _exporter.clear()


def _fresh_connections() -> None:
    if connection.in_atomic_block:
        connection.ensure_connection()
        return
    connection.close()
    if connection.pool is not None:
        connection.close_pool()


def delivery_spans(finished: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    """The delivery spans by subscriber (one delivery each in these tests)."""
    return {
        span.attributes["orderflow.subscriber"]: span
        for span in finished
        if span.name.startswith("deliver ")
    }


def sample(name: str, **labels: str) -> float:
    """The current value of one sample of this process's registry (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
