import logging
import re

import pytest
from django.test import Client

from orderflow.correlation import (
    CorrelationIdLogFilter,
    get_correlation_id,
    reset_correlation_id,
    set_correlation_id,
)

# A kernel page, so that these tests need no context's data.
PAGE = "/api/problems/not-found"
GENERATED = re.compile(r"^[0-9a-f]{32}$")


def test_echoes_the_callers_correlation_id():
    response = Client().get(PAGE, HTTP_X_CORRELATION_ID="req-2026.11:abc_DEF-1")

    assert response.status_code == 200
    assert response["X-Correlation-ID"] == "req-2026.11:abc_DEF-1"


def test_makes_one_when_none_is_sent():
    first = Client().get(PAGE)
    second = Client().get(PAGE)

    assert GENERATED.match(first["X-Correlation-ID"])
    assert GENERATED.match(second["X-Correlation-ID"])
    assert first["X-Correlation-ID"] != second["X-Correlation-ID"]


@pytest.mark.parametrize(
    "supplied",
    [
        "",
        "has space",
        "semi;colon",
        "x" * 129,
        "naïve",
        "line\nbreak",
        "<script>",
    ],
)
def test_replaces_a_malformed_correlation_id(supplied):
    response = Client().get(PAGE, HTTP_X_CORRELATION_ID=supplied)

    assert response.status_code == 200
    assert GENERATED.match(response["X-Correlation-ID"])
    assert response["X-Correlation-ID"] != supplied


def test_accepts_the_longest_allowed_id():
    supplied = "a" * 128

    response = Client().get(PAGE, HTTP_X_CORRELATION_ID=supplied)

    assert response["X-Correlation-ID"] == supplied


def test_names_the_correlation_id_in_a_problem():
    response = Client().get("/api/problems/no-such-type", HTTP_X_CORRELATION_ID="trace-7")

    assert response.status_code == 404
    assert response["X-Correlation-ID"] == "trace-7"
    assert response.json()["correlation_id"] == "trace-7"


def test_forgets_the_id_once_the_request_is_answered():
    Client().get(PAGE, HTTP_X_CORRELATION_ID="trace-8")

    assert get_correlation_id() is None


def _record() -> logging.LogRecord:
    return logging.LogRecord("orderflow", logging.INFO, __file__, 1, "hello", None, None)


def test_log_records_carry_the_current_correlation_id():
    record = _record()
    token = set_correlation_id("trace-9")
    try:
        kept = CorrelationIdLogFilter().filter(record)
    finally:
        reset_correlation_id(token)

    assert kept is True
    assert record.correlation_id == "trace-9"


def test_log_records_outside_a_request_carry_a_dash():
    record = _record()

    assert CorrelationIdLogFilter().filter(record) is True
    assert record.correlation_id == "-"
