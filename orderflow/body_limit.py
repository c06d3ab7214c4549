"""Refuse an oversized request body with 413 before it is read, on the ASGI path too.

Under WSGI, :class:`orderflow.api.middleware.RequestBodyLimitMiddleware` answers 413 from the
``Content-Length`` header and nothing reads the body. Under ASGI the server and Django's
``ASGIHandler`` read the whole body (into memory or a temporary file) before any middleware
runs, so a 60 MB body was read before its 413. :class:`RequestBodyLimit` wraps the ASGI
application instead:

* a declared ``Content-Length`` over the limit is answered 413 without a single
  ``receive()``;
* a body without one (chunked) is read up to the limit and no further: one byte more and
  the answer is 413, the rest never read.

The limit is ``API_MAX_BODY_BYTES`` under ``/api/`` and Django's own
``DATA_UPLOAD_MAX_MEMORY_SIZE`` elsewhere (staff pages and the admin take forms, never
files). :func:`refusal` is shared with the daphne guard in :mod:`orderflow.asgi_server`.
"""

import orjson
from django.conf import settings

from orderflow.api.problems import API_PREFIX, CONTENT_TYPE, problem_body


def limit_for(path: str) -> int:
    """The largest body, in bytes, that a request to ``path`` may carry."""
    if path.startswith(API_PREFIX):
        return settings.API_MAX_BODY_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The request's ``Content-Length``, or None when it has none (or an unreadable one)."""
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def refusal(path: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The 413's headers and body: problem+json under ``/api/``, plain text elsewhere."""
    limit = limit_for(path)
    detail = f"The request body is larger than {limit} bytes."
    if path.startswith(API_PREFIX):
        body = orjson.dumps(
            problem_body(slug="request-too-large", status_code=413, detail=detail, instance=path)
        )
        content_type = CONTENT_TYPE.encode()
    else:
        body = f"Request body too large: {detail}\n".encode()
        content_type = b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        # the unread rest of the body is still on the wire: the connection cannot be reused
        (b"connection", b"close"),
    ]
    return headers, body


class RequestBodyLimit:
    """ASGI middleware: 413 for a body over :func:`limit_for`, before the body is read."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        limit = limit_for(path)
        length = declared_length(scope["headers"])
        if length is not None:
            if length > limit:
                return await self._refuse(path, send)
            return await self.app(scope, receive, send)
        # No declared length: read up to the limit, then hand what was read to the app.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await self._refuse(path, send)
            if not message.get("more_body", False):
                break
        return await self.app(scope, _replay(b"".join(chunks), receive), send)

    @staticmethod
    async def _refuse(path: str, send) -> None:
        headers, body = refusal(path)
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive):
    """A ``receive`` that gives the already read body once, then the server's messages."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
