"""One log line per request: where the server logs each request, Django does not log a 4xx again."""

import logging

import pytest

from orderflow.observability.logging_format import ServerLogsRequestsFilter

pytestmark = pytest.mark.django_db


def _request_lines(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "django.request"]


def test_in_embedded_mode_a_4xx_gets_only_the_servers_access_line(client, settings, caplog):
    settings.REQUEST_LINE_BY_SERVER = True
    caplog.set_level(logging.INFO)

    client.get("/no-such-page")
    client.get("/api/v1/orders")  # 401, no key

    assert _request_lines(caplog) == []


def test_in_full_mode_django_logs_the_4xx_once(client, settings, caplog):
    settings.REQUEST_LINE_BY_SERVER = False
    caplog.set_level(logging.INFO)

    client.get("/no-such-page")
    client.get("/api/v1/orders")

    assert _request_lines(caplog) == [
        ("WARNING", "Not Found: /no-such-page"),
        ("WARNING", "Unauthorized: /api/v1/orders"),
    ]


@pytest.mark.parametrize(("status", "kept"), [(404, False), (429, False), (500, True), (503, True)])
def test_a_server_error_is_always_logged_with_its_traceback(settings, status, kept):
    settings.REQUEST_LINE_BY_SERVER = True
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", None, None)
    record.status_code = status

    assert ServerLogsRequestsFilter().filter(record) is kept


def test_the_filter_sits_on_djangos_request_logger():
    filters = logging.getLogger("django.request").filters

    # each django.setup() configures logging again and adds its filters again (importing
    # orderflow.asgi does, in other tests): one kind of filter, however many setups
    assert {type(f) for f in filters} == {ServerLogsRequestsFilter}
