"""The ASGI application refuses an oversized body with 413 before reading it."""

import asyncio

import orjson
import pytest

from orderflow.asgi import application

SIXTY_MB = 60 * 1024 * 1024
CHUNK = 64 * 1024


def http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


class SixtyMegabytes:
    """A client sending a 60 MB body in 64 KiB chunks, as far as it is asked: it counts the asks."""

    def __init__(self):
        self.reads = 0

    async def __call__(self):
        self.reads += 1
        more = self.reads < SIXTY_MB // CHUNK
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": more}


def call(scope: dict, receive) -> tuple[dict, bytes]:
    """Run the ASGI application once; return its response start message and body."""
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start, body


def test_a_declared_60_mb_api_body_is_refused_without_reading_it(settings):
    body = SixtyMegabytes()
    scope = http_scope(
        "/api/v1/orders",
        [(b"content-type", b"application/json"), (b"content-length", str(SIXTY_MB).encode())],
    )

    start, content = call(scope, body)

    assert body.reads == 0
    assert start["status"] == 413
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"connection"] == b"close"
    problem = orjson.loads(content)
    assert problem == {
        "type": "/api/problems/request-too-large",
        "title": problem["title"],
        "status": 413,
        "detail": f"The request body is larger than {settings.API_MAX_BODY_BYTES} bytes.",
        "instance": "/api/v1/orders",
        "errors": [],
    }


def test_a_chunked_api_body_is_read_only_up_to_the_limit(settings):
    settings.API_MAX_BODY_BYTES = 256 * 1024
    body = SixtyMegabytes()
    scope = http_scope("/api/v1/orders", [(b"content-type", b"application/json")])

    start, content = call(scope, body)

    assert start["status"] == 413
    # four chunks fill the limit exactly; the fifth is the byte too many, and the last read
    assert body.reads == 5
    assert orjson.loads(content)["type"] == "/api/problems/request-too-large"


def test_a_declared_body_over_djangos_limit_is_refused_on_a_page_too(settings):
    body = SixtyMegabytes()
    length = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    scope = http_scope("/admin/login/", [(b"content-length", str(length).encode())])

    start, content = call(scope, body)

    assert (start["status"], body.reads) == (413, 0)
    assert dict(start["headers"])[b"content-type"] == b"text/plain; charset=utf-8"
    assert content.startswith(b"Request body too large: ")


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_within_the_limit_reaches_the_app_whole():
    chunks = [b'{"lines": ', b"[]}"]
    client_stays = asyncio.Event()

    async def receive():
        if not chunks:  # the body is sent; the client waits for its answer
            await client_stays.wait()
        body = chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    scope = http_scope("/api/v1/orders", [(b"content-type", b"application/json")])

    start, content = call(scope, receive)

    # the API itself answered: no key, so 401 (a 413 or a hang would mean the body was lost)
    assert start["status"] == 401
    assert orjson.loads(content)["type"] == "/api/problems/not-authenticated"
    assert chunks == []
