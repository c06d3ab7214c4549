"""Stop daphne reading an oversized request body: 413 as soon as the body is known too large.

daphne's HTTP server is twisted's, which reads a request's whole body (into memory, or a
temporary file past 100 kB) before daphne hands the request to the ASGI application; so
:class:`orderflow.body_limit.RequestBodyLimit` alone would still let a client make the
server take in 60 MB before its 413. This request class checks at twisted's level:

* when the headers are in, a declared ``Content-Length`` over the limit answers 413 and
  closes the connection, without reading a byte of the body;
* while a body without one (chunked) arrives, the byte past the limit does the same.

The answer is the one :func:`orderflow.body_limit.refusal` gives, problem+json under
``/api/``. :func:`install` puts the class in daphne's place; :mod:`orderflow.asgi` calls
it, so it holds however daphne was started (``orderflow.asgi_server``, ``daphne``,
``runserver`` in embedded mode).
"""

import logging
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from daphne import http_protocol

from orderflow.body_limit import limit_for, refusal

logger = logging.getLogger(__name__)

_WebRequest = http_protocol.WebRequest


class BodyLimitedWebRequest(_WebRequest):
    """daphne's request, refusing a body over :func:`orderflow.body_limit.limit_for`."""

    _limit: int | None = None
    _received = 0
    _refused = False

    def gotLength(self, length: int | None) -> None:
        """Refuse a declared length over the limit before any of the body is read."""
        path = self._path()
        self._limit = limit_for(path)
        if length is not None and length > self._limit:
            self._refuse(path)
            length = 0  # nothing of the body is kept
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        """Keep a chunk while the body stays within the limit; refuse at the byte past it."""
        if self._refused:
            return
        self._received += len(data)
        if self._limit is not None and self._received > self._limit:
            self._refuse(self._path())
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        # Bytes read with the refusing chunk may still complete the body: a refused request
        # must never reach the application, on a connection that is already closing.
        if not self._refused:
            super().requestReceived(command, path, version)

    def _path(self) -> str:
        # twisted sets the request's own path only once the body is in: the channel has it
        raw = getattr(self.channel, "_path", b"") or b""
        return unquote(urlsplit(raw.decode("latin-1")).path)

    def _refuse(self, path: str) -> None:
        self._refused = True
        # daphne logs no access line for a request it never completed: this is the one
        logger.warning("413 for %s: the body is over %d bytes", path, limit_for(path))
        headers, body = refusal(path)
        status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        head = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
        head += [name + b": " + value for name, value in headers]
        transport = self.channel.transport
        transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        # the rest of the body is never read: the connection ends here
        transport.loseConnection()


def install() -> None:
    """Make daphne build :class:`BodyLimitedWebRequest` for every HTTP request it serves."""
    # daphne's HTTPFactory looks this module attribute up for each new connection, and
    # offers no setting for it.
    http_protocol.WebRequest = BodyLimitedWebRequest
