"""Under daphne, an oversized body is refused with 413 before the server reads it.

A real daphne (``python -m orderflow.asgi_server``, as the image's web role runs it) and a
raw socket: the client sends only the headers of a 60 MB request, or a chunked body
past the limit, and the 413 must come back without the rest ever being sent. Without the
guard, twisted waits for the body it was promised, and the read below times out.
"""

import json
import os
import socket
import sys
from collections.abc import Iterator

import pytest
from django.conf import settings

from devtools.processes import ManagedProcess, ProcessFailedToStart

SIXTY_MB = 60 * 1024 * 1024
#: bounds each read: the server answers in milliseconds, or never when it waits for a body
ANSWER_DEADLINE_SECONDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def daphne_port() -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONUNBUFFERED": "1",
        "API_MAX_BODY_BYTES": str(settings.API_MAX_BODY_BYTES),
    }
    server = ManagedProcess(
        "daphne",
        [sys.executable, "-m", "orderflow.asgi_server", "-b", "127.0.0.1", "-p", str(port),
         "orderflow.asgi:application"],
        env,
        ready_marker="Listening on TCP address",
    )  # fmt: skip
    try:
        server.start()
    except ProcessFailedToStart as error:
        pytest.fail(str(error))
    try:
        yield port
    finally:
        server.stop()


def exchange(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send ``head`` and ``body``, keep the connection open, and read the answer to its end."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_DEADLINE_SECONDS) as sock:
        sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes the connection after a 413
            answer += chunk
    return answer


def problem_of(answer: bytes) -> tuple[str, dict[str, str], dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *header_lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return status, headers, json.loads(body)


def test_a_declared_60_mb_body_is_refused_from_its_headers_alone(daphne_port):
    head = (
        b"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(SIXTY_MB).encode() + b"\r\n\r\n"
    )

    status, headers, problem = problem_of(exchange(daphne_port, head))

    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert problem["type"] == "/api/problems/request-too-large"
    assert problem["detail"] == (
        f"The request body is larger than {settings.API_MAX_BODY_BYTES} bytes."
    )


def test_a_chunked_body_is_refused_at_the_byte_past_the_limit(daphne_port):
    head = (
        b"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    over = settings.API_MAX_BODY_BYTES + 1
    # one chunk one byte over the limit, and no last chunk: the body never ends
    body = f"{over:x}\r\n".encode() + b"x" * over + b"\r\n"

    status, _, problem = problem_of(exchange(daphne_port, head, body))

    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert problem["type"] == "/api/problems/request-too-large"


def test_a_body_within_the_limit_still_reaches_the_app(daphne_port):
    body = b'{"lines": []}'
    head = (
        b"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )

    status, _, problem = problem_of(exchange(daphne_port, head, body))

    # the API answered: no key, so 401
    assert status == "HTTP/1.1 401 Unauthorized"
    assert problem["type"] == "/api/problems/not-authenticated"
