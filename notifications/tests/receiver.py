"""Real servers for the webhook tests, bound to 127.0.0.1 only.

``WebhookReceiver`` answers scripted statuses, counts what arrives and verifies every
request with the reference Standard Webhooks library (``standardwebhooks`` from PyPI), as
a shop's receiver would. ``Canary`` only counts TCP connections: the SSRF tests point
forbidden URLs at it and expect it to hear nothing.
"""

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    verify_error: str = ""

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.json["event_id"]


@dataclass
class WebhookReceiver:
    """``secrets`` maps a path to the endpoint secret its requests are verified with."""

    secrets: dict[str, str] = field(default_factory=dict)
    #: statuses to answer, in order; 200 once they are used up
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    #: when given, every request is held until the gate opens (a hanging receiver)
    gate: threading.Event | None = None
    #: when given, the body of every answer (else "answered <status>")
    answer: bytes | None = None
    #: TCP connections accepted (a keep-alive client makes one for many requests)
    connections: int = 0

    def __post_init__(self):
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._open: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "WebhookReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # keep-alive, as a shop's receiver: many requests may share one connection
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with receiver._lock:
                    receiver.connections += 1
                    receiver._open.add(self.connection)

            def finish(self):
                with receiver._lock:
                    receiver._open.discard(self.connection)
                super().finish()

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._record(self.path, dict(self.headers.items()), body)
                if receiver.gate is not None:
                    receiver.gate.wait(timeout=120)  # bounded: never outlive the test run
                status = receiver._next_status()
                answer = (
                    f"answered {status}".encode() if receiver.answer is None else receiver.answer
                )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until ``start()``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:  # and end kept-alive connections, as a stopped server does
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        secret = self.secrets.get(path)
        verified, error = False, "no secret for this path"
        if secret:
            try:
                Webhook(secret).verify(body, headers)
                verified, error = True, ""
            except WebhookVerificationError as exc:
                error = str(exc)
        with self._arrived:
            self.received.append(Received(path, headers, body, verified, error))
            self._arrived.notify_all()

    def _next_status(self) -> int:
        with self._lock:
            return self.script.pop(0) if self.script else 200

    def wait_for(self, count: int, *, path: str, timeout: float = 60) -> bool:
        """Wait until ``count`` requests to ``path`` have arrived (bounded: False if not)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.at(path)) >= count, timeout=timeout)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


class Canary:
    """A TCP listener on 127.0.0.1 that counts the connections made to it."""

    def __init__(self):
        self.connections = 0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._socket.close()
