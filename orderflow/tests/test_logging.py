"""Log lines: JSON in full mode, readable in embedded mode, context on each, secrets on none."""

import io
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import transaction

from orderflow.asgi_server import LoggingAccessLogGenerator
from orderflow.correlation import (
    CorrelationIdLogFilter,
    reset_correlation_id,
    set_correlation_id,
)
from orderflow.events import publish
from orderflow.events.pump import drain
from orderflow.observability.logging_context import bind_log_context, log_context
from orderflow.observability.logging_format import ConsoleFormatter, JsonFormatter
from orders.events import OrderPlaced, PlacedLine
from tests.probe.events import ProbePinged

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "ZGP1u7LV.PuXmqyRktEecHhKiFk9ZwbwByBh1TLCk"
CARD_TOKEN = "tok_visa_4242424242424242"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
DB_PASSWORD = "pg-Pa55w0rd-xyz"


def capture(formatter: logging.Formatter) -> Iterator[io.StringIO]:
    """Add a handler with ``formatter`` to the root logger, as settings.LOGGING does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(CorrelationIdLogFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    yield from capture(JsonFormatter())


@pytest.fixture
def console_lines() -> Iterator[io.StringIO]:
    yield from capture(ConsoleFormatter())


def parsed(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def an_order_placed(order_id: uuid.UUID) -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id,
        shop_id=7,
        number="ORD-1",
        currency="EUR",
        subtotal="9.95",
        total="9.95",
        customer_name="Ana Souza",
        customer_email="ana@example.com",
        lines=[PlacedLine(product_id=3, sku="MUG", quantity=1, unit_price="9.95")],
    )


@pytest.mark.django_db
def test_log_lines_are_json_and_carry_the_requests_correlation_id(client, json_lines):
    client.get("/no-such-page", HTTP_X_CORRELATION_ID="corr-log-1")
    client.get("/api/v1/orders", HTTP_X_CORRELATION_ID="corr-log-2")  # 401, no key

    lines = [line for line in parsed(json_lines) if line["logger"] == "django.request"]
    assert [
        (line["level"], line["message"], line["correlation_id"], line["path"]) for line in lines
    ] == [
        ("warning", "Not Found: /no-such-page", "corr-log-1", "/no-such-page"),
        ("warning", "Unauthorized: /api/v1/orders", "corr-log-2", "/api/v1/orders"),
    ]
    assert list(lines[0])[:5] == ["timestamp", "level", "logger", "message", "correlation_id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", lines[0]["timestamp"])
    assert "request" not in lines[0]  # the request object, headers and all, stays out


@pytest.mark.django_db
def test_publishing_an_order_event_tells_later_lines_the_order_and_shop(json_lines):
    order_id = uuid.uuid4()
    log = logging.getLogger("orders.test")

    with log_context():
        log.info("before")
        with transaction.atomic():
            publish(an_order_placed(order_id), sequence=1)
        log.info("after")
    log.info("outside")

    before, after, outside = parsed(json_lines)
    assert "order_id" not in before
    assert (after["order_id"], after["shop_id"]) == (str(order_id), "7")
    assert "order_id" not in outside  # the scope ended with its request


def test_binding_outside_a_scope_leaks_nothing(json_lines):
    bind_log_context(order_id="o-1")
    logging.getLogger("orders.test").info("no scope")

    (line,) = parsed(json_lines)
    assert "order_id" not in line


@pytest.mark.django_db
def test_a_delivery_logs_with_its_events_context(json_lines):
    token = set_correlation_id("corr-delivery-1")
    try:
        with transaction.atomic():
            row = publish(ProbePinged(probe_id=uuid.uuid4(), shop_id=1, behaviour="permanent"))
    finally:
        reset_correlation_id(token)

    drain()

    (line,) = [x for x in parsed(json_lines) if x["logger"] == "orderflow.events.relay"]
    assert line["level"] == "error"
    assert line["message"].endswith("PermanentError: this event can never be handled; dead letter")
    assert {k: line[k] for k in ("correlation_id", "event_id", "subscriber", "shop_id")} == {
        "correlation_id": "corr-delivery-1",
        "event_id": str(row.event_id),
        "subscriber": "probe.record_on_probe_pinged",
        "shop_id": "1",
    }


SECRET_LOGS = [
    ("key %s presented", (API_KEY,), {}),
    ("Authorization: Bearer %s", (API_KEY,), {}),
    ("charging card %s", (CARD_TOKEN,), {}),
    ("signing with %s", (WEBHOOK_SECRET,), {}),
    ("could not connect to %s", (f"postgres://orderflow:{DB_PASSWORD}@db:5432/orderflow",), {}),
    ('payload {"payment_token": "%s", "secret": "%s"}', (CARD_TOKEN, WEBHOOK_SECRET), {}),
    ("endpoint saved", (), {"webhook_secret": WEBHOOK_SECRET, "api_key": API_KEY}),
    ("payment", (), {"payment": {"token": CARD_TOKEN, "amount": "9.95"}}),
]
SECRETS = [API_KEY.split(".")[1], CARD_TOKEN[4:-4], WEBHOOK_SECRET[6:], DB_PASSWORD]


@pytest.mark.parametrize("formatter", [JsonFormatter, ConsoleFormatter])
@pytest.mark.parametrize(("message", "args", "extra"), SECRET_LOGS)
def test_secrets_never_reach_a_log_line(formatter, message, args, extra):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter())
    logger = logging.getLogger(f"orderflow.tests.secrets.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.propagate = False

    logger.warning(message, *args, extra=extra)

    text = stream.getvalue()
    assert "[REDACTED]" in text or "tok_****4242" in text
    for secret in SECRETS:
        assert secret not in text


def test_secrets_in_a_traceback_are_scrubbed_too(json_lines):
    try:
        raise ConnectionError(f"postgres://orderflow:{DB_PASSWORD}@db:5432/orderflow refused")
    except ConnectionError:
        logging.getLogger("orders.test").exception("database down")

    (line,) = parsed(json_lines)
    assert "ConnectionError" in line["exception"]
    assert DB_PASSWORD not in json_lines.getvalue()


def test_the_card_tokens_last_four_characters_stay_for_support(json_lines):
    logging.getLogger("payments.test").info("charged %s", CARD_TOKEN)

    (line,) = parsed(json_lines)
    assert line["message"] == "charged tok_****4242"


TRACKING_TOKEN = "Zq3v9-XtT0ken_a1B2c3"


def test_a_daphne_access_line_is_json_without_the_tracking_token(json_lines):
    access_log = LoggingAccessLogGenerator()
    client = ["203.0.113.9", 51234]

    access_log("http", "complete", {
        "client": client[0] + ":51234", "method": "GET", "path": f"/track/{TRACKING_TOKEN}",
        "status": 200, "size": 512,
    })  # fmt: skip
    access_log("websocket", "connected", {
        "client": client[0] + ":51235", "path": f"/ws/track/{TRACKING_TOKEN}/",
    })  # fmt: skip

    lines = parsed(json_lines)
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("daphne.access", '203.0.113.9:51234 "GET /track/[REDACTED]" 200 512'),
        ("daphne.access", '203.0.113.9:51235 "WSCONNECT /ws/track/[REDACTED]/" - -'),
    ]
    assert TRACKING_TOKEN not in json_lines.getvalue()


@pytest.mark.parametrize("formatter", [JsonFormatter, ConsoleFormatter])
def test_a_tracking_token_never_reaches_a_log_line(formatter, rf):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter())
    logger = logging.getLogger(f"orderflow.tests.tokens.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.propagate = False
    page = rf.get(f"/track/{TRACKING_TOKEN}")

    # as django.request logs a 404, gunicorn an access line and a page a link
    logger.warning("Not Found: %s", page.path, extra={"request": page})
    logger.info('"GET /ws/track/%s/?resume=1 HTTP/1.1" 101', TRACKING_TOKEN)
    logger.info("tracking_url https://shop.example/track/%s", TRACKING_TOKEN)

    text = stream.getvalue()
    assert TRACKING_TOKEN not in text
    assert text.count("/track/[REDACTED]") == 4  # the first line also carries the request's path


def test_djangos_own_lines_pass_only_through_the_scrubbing_formatter():
    """Django's default handlers print raw lines (the token in a 404's path) when DEBUG is on."""
    for name in ("django", "django.request", "django.server", "daphne.access"):
        logger = logging.getLogger(name)
        assert (name, logger.handlers) == (name, [])
        assert logger.propagate


def test_console_lines_read_as_text_with_the_context_at_the_end(console_lines):
    with log_context(order_id="o-1", shop_id="3"):
        logging.getLogger("orders.test").warning("stock is low")

    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d WARNING orders\.test \[-\] stock is low "
        r"order_id=o-1 shop_id=3\n",
        console_lines.getvalue(),
    )


def _log_from_a_fresh_process(**env: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "import logging; logging.getLogger('orders.check').warning('hello')",
        ],
        cwd=REPO_ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_full_mode_logs_json_and_embedded_mode_logs_text():
    full = _log_from_a_fresh_process(
        DATABASE_URL="postgres://orderflow:orderflow@db.invalid:5432/orderflow",
        SECRET_KEY="k3Vq9xT2mZ8rW1pL6sN4bY7cH0dF5gJ2aQ9eR3tU8iO1wE6yP4lK7zX0vB5nM2cA",
    )
    embedded = _log_from_a_fresh_process()

    assert json.loads(full) | {"timestamp": "t"} == {
        "timestamp": "t",
        "level": "warning",
        "logger": "orders.check",
        "message": "hello",
        "correlation_id": "-",
    }
    assert re.fullmatch(r"\S+ \S+ WARNING orders\.check \[-\] hello", embedded)
