"""``make run``'s terminal: the simulator's calls and the webhooks they cause leave no line."""

import logging

import pytest

from demo.traffic import SIMULATOR_USER_AGENT, QuietDemoTrafficFilter, demo_traffic_middleware
from notifications.webhooks import USER_AGENT as WEBHOOK_USER_AGENT


def _served(rf, port: int, user_agent: str, path: str = "/api/v1/orders") -> str:
    """Pass a request through the middleware; return its client address as the access line
    names it."""
    request = rf.post(path, HTTP_USER_AGENT=user_agent, REMOTE_ADDR="127.0.0.1")
    request.META["REMOTE_PORT"] = port
    demo_traffic_middleware(lambda request: None)(request)
    return f"127.0.0.1:{port}"


def _access_line_kept(client: str) -> bool:
    record = logging.LogRecord(
        "django.channels.server", logging.INFO, __file__, 1, "HTTP %(method)s", None, None
    )
    record.args = {"client": client, "method": "POST"}
    return QuietDemoTrafficFilter().filter(record)


@pytest.mark.parametrize(
    ("user_agent", "path", "kept"),
    [
        (SIMULATOR_USER_AGENT, "/api/v1/orders", False),
        # the README registers the webhook inbox for the demo shop: every simulated order's
        # webhook would print a line a second, each already on the inbox's page
        (WEBHOOK_USER_AGENT, "/dev/webhook-inbox", False),
        ("curl/8.5.0", "/api/v1/orders", True),
        ("Mozilla/5.0", "/staff/", True),
    ],
)
def test_only_demo_traffic_loses_its_access_line(rf, user_agent, path, kept):
    client = _served(rf, 40001, user_agent, path)

    assert _access_line_kept(client) is kept


def test_a_noted_address_is_silenced_once(rf):
    client = _served(rf, 40002, SIMULATOR_USER_AGENT)

    assert _access_line_kept(client) is False
    # the next request from that address (a real client reusing the port) keeps its line
    assert _access_line_kept(client) is True
